import FoundationEssentials
import Glibc

/// One run owns a journal for its whole life: it holds a lock on the file
/// JOURNAL.lock beside it. The lock is an open file description lock
/// (`F_OFD_SETLK`): the kernel drops it when the process dies, it refuses a
/// second batch of the same process as it refuses another process, and
/// anyone can test it without taking it (`F_OFD_GETLK`), which is how
/// `status` tells a live run from a dead one. (A lock on the journal file
/// itself would be lost with SQLite's own POSIX locks whenever a descriptor
/// of it closes.)
///
/// The file holds the owner's pid, start time and progress, for messages
/// and `status`; it is removed when the run ends.
final class JournalLock: @unchecked Sendable {  // unchecked: update runs on the journal's writer thread, release once it stopped: one thread at a time
    /// The run holding a journal, as its lock file describes it.
    struct Owner: Codable, Sendable {
        var pid: Int32
        var since: Double
        /// Documents in the batch, once the sources know.
        var total: UInt64? = nil
        var inFlight: UInt64? = nil
        var sinksWaiting: Int? = nil
    }

    let path: String
    private var fd: Int32
    private var owner: Owner

    static func path(forJournal journal: String) -> String { journal + ".lock" }

    /// Takes the lock, or throws naming the run that holds it.
    init(journal: String) throws {
        path = Self.path(forJournal: journal)
        owner = Owner(pid: getpid(), since: Date().timeIntervalSince1970)
        fd = -1
        while fd < 0 {
            let candidate = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard candidate >= 0 else {
                throw BatchCoreError(.io, "cannot open the journal: cannot create its lock file '\(path)': \(errnoText()); check that its directory exists and is writable, or choose another --checkpoint")
            }
            var lock = Self.wholeFile(F_WRLCK)
            guard fcntl(candidate, F_OFD_SETLK, &lock) == 0 else {
                let error = errno
                let holder = Self.readOwner(candidate)
                close(candidate)
                guard error == EAGAIN || error == EACCES else {
                    throw BatchCoreError(.io, "cannot lock the journal '\(journal)': \(errnoText(error))")
                }
                throw Self.inUse(journal, by: holder)
            }
            // An owner that just finished may have removed the file we opened: lock the one on disk.
            if Self.isSameFile(candidate, path) { fd = candidate } else { close(candidate) }
        }
        write()
    }

    deinit { release() }

    /// Records the run's progress for `status`.
    func update(_ progress: RunProgress) {
        owner.total = progress.total
        owner.inFlight = progress.inFlight
        owner.sinksWaiting = progress.sinksWaiting
        write()
    }

    /// Removes the lock file and lets go of the lock.
    func release() {
        guard fd >= 0 else { return }
        unlink(path)
        close(fd)
        fd = -1
    }

    /// The live run holding the journal's lock, or nil when no process holds it.
    static func owner(ofJournal journal: String) -> Owner? {
        let fd = open(path(forJournal: journal), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var lock = wholeFile(F_WRLCK)
        guard fcntl(fd, F_OFD_GETLK, &lock) == 0, lock.l_type != F_UNLCK else { return nil }
        return readOwner(fd) ?? Owner(pid: 0, since: 0)
    }

    static func inUse(_ journal: String, by owner: Owner?) -> BatchCoreError {
        let who = owner.map { "pid \($0.pid) since \(isoDate($0.since))" } ?? "another run"
        return BatchCoreError(.state, "journal '\(journal)' is in use by \(who); one run at a time writes a journal: wait for that run to end or stop it, or choose another --checkpoint")
    }

    private static func wholeFile(_ type: Int32) -> Glibc.flock {
        var lock = Glibc.flock()
        lock.l_type = Int16(type)
        lock.l_whence = Int16(SEEK_SET)
        return lock
    }

    private static func isSameFile(_ fd: Int32, _ path: String) -> Bool {
        var opened = stat(), named = stat()
        return fstat(fd, &opened) == 0 && stat(path, &named) == 0
            && opened.st_dev == named.st_dev && opened.st_ino == named.st_ino
    }

    /// The file is rewritten in place at a fixed size, so a reader never sees it empty.
    private func write() {
        var text = Array(((try? JSONEncoder().encode(owner)) ?? Data()))
        text += [UInt8](repeating: 0x20, count: max(0, Self.recordSize - text.count - 1)) + [0x0A]
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    private static let recordSize = 256

    private static func readOwner(_ fd: Int32) -> Owner? {
        var buffer = [UInt8](repeating: 0, count: recordSize * 2)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return try? JSONDecoder().decode(Owner.self, from: Data(buffer[..<count]))
    }
}

// Linux's open file description locks; <fcntl.h> declares them only under _GNU_SOURCE.
private let F_OFD_GETLK: Int32 = 36
private let F_OFD_SETLK: Int32 = 37

/// A time as ISO 8601 in UTC, for messages.
func isoDate(_ seconds: Double) -> String {
    Date(timeIntervalSince1970: seconds).formatted(.iso8601)
}
