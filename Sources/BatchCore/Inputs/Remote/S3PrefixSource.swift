import Glibc

/// Every document under an S3 prefix, `s3://bucket/prefix/` (or a whole
/// bucket, `s3://bucket/`), listed with ListObjectsV2 page by page as the
/// batch reads it, in the listing's order (keys in UTF-8 byte order).
/// Keys ending in "/" (folder markers) are left out. Each document's id
/// and path are `s3://bucket/key`.
///
/// A listing is read like a stream: its count is unknown until its end.
public struct S3PrefixSource: DocumentSource {
    public let prefix: String
    private let bucket: String
    private let keyPrefix: String
    /// Keys per page (the batch option `s3.page_size`).
    let pageSize: Int
    let timeout: Double

    /// - Throws: `.invalidArgument` when `prefix` is not `s3://bucket/…/`.
    public init(prefix: String, pageSize: Int = 1000, timeout: Double = 60) throws {
        guard case .s3(let bucket, let key)? = RemoteLocation(prefix), !bucket.isEmpty, key.isEmpty || key.hasSuffix("/") else {
            throw BatchCoreError(.invalidArgument, "'\(prefix)' is not an S3 prefix: expected s3://bucket/ or s3://bucket/prefix/ (ending in '/')")
        }
        self.prefix = prefix
        self.bucket = bucket
        keyPrefix = key
        self.pageSize = pageSize
        self.timeout = timeout
    }

    public var knownCount: Int? { nil }
    public var identity: String { "s3 listing \(prefix)" }
    public var idsAreUnique: Bool { true }

    public func applying(_ options: BatchOptions) -> (any DocumentSource)? {
        try? S3PrefixSource(prefix: prefix, pageSize: options.s3PageSize, timeout: options.fetchTimeout)
    }

    public func makeIterator() throws -> any DocumentIterator {
        S3ListingIterator(source: self, bucket: bucket, keyPrefix: keyPrefix,
                          fetcher: RemoteFetcher(memoryMax: Int.max, timeout: timeout))
    }
}

final class S3ListingIterator: DocumentIterator {
    private let source: S3PrefixSource
    private let bucket: String
    private let keyPrefix: String
    private let fetcher: RemoteFetcher
    private var page: [String] = []
    private var nextInPage = 0
    /// nil before the first page; "" once the last page was read.
    private var continuation: String? = nil

    init(source: S3PrefixSource, bucket: String, keyPrefix: String, fetcher: RemoteFetcher) {
        self.source = source
        self.bucket = bucket
        self.keyPrefix = keyPrefix
        self.fetcher = fetcher
    }

    func next() throws -> Document? {
        while nextInPage == page.count {
            guard continuation != "" else { return nil }
            try readPage()
        }
        let key = page[nextInPage]
        nextInPage += 1
        let path = "s3://\(bucket)/\(key)"
        return Document(id: path, path: path)
    }

    /// The next page, retried on a transient failure (three tries, after
    /// its Retry-After or a growing pause).
    private func readPage() throws {
        // The query's fields in name order, as SigV4 signs them.
        var query = ""
        if let continuation { query += "continuation-token=\(percentEncoded(continuation, keepSlash: false))&" }
        query += "list-type=2&max-keys=\(source.pageSize)&prefix=\(percentEncoded(keyPrefix, keepSlash: false))"
        let url = fetcher.s3.url(bucket: bucket, key: "", query: query)
        var tries = 0
        while true {
            do {
                let listing = S3Listing(page: try fetcher.body(of: url, display: "listing \(source.prefix)"))
                page = listing.keys.filter { !$0.hasSuffix("/") }
                nextInPage = 0
                continuation = listing.continuationToken ?? ""
                return
            } catch {
                tries += 1
                guard case .retry(_, let retryAfterMs) = error, tries < 3 else {
                    throw BatchCoreError(.input, error.message)
                }
                usleep(UInt32(min(retryAfterMs ?? UInt64(250 << tries), 30_000) * 1000))
            }
        }
    }
}
