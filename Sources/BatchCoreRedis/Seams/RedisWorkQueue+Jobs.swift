import BatchCore

extension RedisWorkQueue {
    /// Appends the engine's jobs, encoded compactly, in one pipeline. Not resent.
    public func add(jobs: [Job], on connection: RedisConnection) throws {
        guard !jobs.isEmpty else { return }
        try add(jobs.map(JobCodec.encode), on: connection)
    }
}
