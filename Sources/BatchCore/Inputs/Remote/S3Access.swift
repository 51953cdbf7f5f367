import CBatchCore
import Glibc

/// How s3:// requests are addressed and signed, from the environment the
/// AWS tools read: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
/// AWS_SESSION_TOKEN, AWS_REGION (or AWS_DEFAULT_REGION, else us-east-1),
/// and AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL for an S3-compatible store
/// (addressed path-style: ENDPOINT/bucket/key). Without keys, requests go
/// unsigned (public buckets).
///
/// Requests are signed by libcurl (CURLOPT_AWS_SIGV4). The secrets are
/// only ever handed to libcurl: never in a message, a log or the journal.
struct S3Access: Sendable, CustomStringConvertible {
    let region: String
    let endpoint: String?
    private let accessKey: String?
    private let secretKey: String?
    private let sessionToken: String?

    init(region: String, endpoint: String?, accessKey: String? = nil, secretKey: String? = nil, sessionToken: String? = nil) {
        self.region = region
        self.endpoint = endpoint
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.sessionToken = sessionToken
    }

    static func fromEnvironment() -> S3Access {
        func env(_ name: String) -> String? {
            guard let value = getenv(name).map({ String(cString: $0) }), !value.isEmpty else { return nil }
            return value
        }
        return S3Access(region: env("AWS_REGION") ?? env("AWS_DEFAULT_REGION") ?? "us-east-1",
                        endpoint: env("AWS_ENDPOINT_URL_S3") ?? env("AWS_ENDPOINT_URL"),
                        accessKey: env("AWS_ACCESS_KEY_ID"), secretKey: env("AWS_SECRET_ACCESS_KEY"),
                        sessionToken: env("AWS_SESSION_TOKEN"))
    }

    /// Keeps the secrets out of any interpolation.
    var description: String { "S3 (region \(region)\(endpoint.map { ", endpoint \($0)" } ?? ""))" }

    /// The HTTP URL of `key` in `bucket`; `query` (already encoded, its
    /// fields sorted by name, as a SigV4 canonical request wants) for listings.
    func url(bucket: String, key: String, query: String = "") -> String {
        let path = percentEncoded(key, keepSlash: true)
        let tail = query.isEmpty ? "" : "?" + query
        if let endpoint {
            let base = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
            return "\(base)/\(percentEncoded(bucket, keepSlash: false))/\(path)\(tail)"
        }
        return "https://\(bucket).s3.\(region).amazonaws.com/\(path)\(tail)"
    }

    /// Signs the handle's next request (when keys are set).
    func sign(_ handle: CurlHandle) -> [String] {
        guard let accessKey, let secretKey else { return [] }
        handle.set(CURLOPT_AWS_SIGV4, "aws:amz:\(region):s3")
        handle.set(CURLOPT_USERNAME, accessKey)
        handle.set(CURLOPT_PASSWORD, secretKey)
        return sessionToken.map { ["x-amz-security-token: \($0)"] } ?? []
    }
}
