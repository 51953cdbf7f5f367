/// Inputs given by a path that is a URL: http://, https:// or s3://.
public enum RemoteInput {
    /// True for http://, https:// and s3:// paths.
    public static func isRemote(_ path: String) -> Bool { RemoteLocation.isRemote(path) }

    /// True for `s3://bucket/` and `s3://bucket/prefix/`: a listing, not one document.
    public static func isPrefix(_ path: String) -> Bool { RemoteLocation(path)?.isPrefix ?? false }

    /// The source of a remote input: an S3 prefix's listing, or the one
    /// document at the URL (fetched when the batch reaches it; id = the URL).
    public static func source(_ path: String) throws -> any DocumentSource {
        isPrefix(path) ? try S3PrefixSource(prefix: path) : try FileSource(path: path)
    }
}
