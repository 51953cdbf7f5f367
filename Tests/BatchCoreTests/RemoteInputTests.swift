@testable import BatchCore
import XCTest

final class RemoteInputTests: XCTestCase {
    func testLocationsAreTold() {
        XCTAssertEqual(RemoteLocation("https://h/a.pdf"), .http("https://h/a.pdf"))
        XCTAssertEqual(RemoteLocation("s3://b/k/x y.txt"), .s3(bucket: "b", key: "k/x y.txt"))
        XCTAssertNil(RemoteLocation("local/http://not-a-url"))
        XCTAssertNil(RemoteLocation(nil))
        XCTAssertTrue(RemoteLocation("s3://b/p/")!.isPrefix)
        XCTAssertTrue(RemoteLocation("s3://b")!.isPrefix)
        XCTAssertFalse(RemoteLocation("s3://b/p/k")!.isPrefix)
        XCTAssertFalse(RemoteLocation("https://h/dir/")!.isPrefix)
    }

    func testMessagesMaskPasswordsAndQueryValues() {
        XCTAssertEqual(RemoteLocation.masked("https://ann:pw@h:8/a/b.pdf?sig=abc&x=1#f"), "https://***@h:8/a/b.pdf?sig=***&x=***")
        XCTAssertEqual(RemoteLocation.masked("http://h/a?flag"), "http://h/a?flag")
        XCTAssertEqual(RemoteLocation.masked("http://h"), "http://h")
    }

    func testKeysArePercentEncodedByteForByte() {
        XCTAssertEqual(percentEncoded("a b+c%d/é~_.-", keepSlash: true), "a%20b%2Bc%25d/%C3%A9~_.-")
        XCTAssertEqual(percentEncoded("p/q", keepSlash: false), "p%2Fq")
    }

    func testS3AddressesPathStyleAtAnEndpointElseVirtualHosted() {
        let aws = S3Access(region: "eu-west-3", endpoint: nil)
        XCTAssertEqual(aws.url(bucket: "b", key: "a b.txt"), "https://b.s3.eu-west-3.amazonaws.com/a%20b.txt")
        let minio = S3Access(region: "us-east-1", endpoint: "http://127.0.0.1:9000/")
        XCTAssertEqual(minio.url(bucket: "b", key: "", query: "list-type=2"), "http://127.0.0.1:9000/b/?list-type=2")
    }

    func testAListingPageGivesItsKeysAndWhereTheNextStarts() {
        let page = Array("""
            <?xml version="1.0" encoding="UTF-8"?><ListBucketResult><IsTruncated>true</IsTruncated>\
            <Contents><Key>a &amp; b.txt</Key></Contents><Contents><Key>caf&#233;&#x2603;.txt</Key></Contents>\
            <NextContinuationToken>tok/+=</NextContinuationToken></ListBucketResult>
            """.utf8)
        let listing = S3Listing(page: page)
        XCTAssertEqual(listing.keys, ["a & b.txt", "café☃.txt"])
        XCTAssertEqual(listing.continuationToken, "tok/+=")
        XCTAssertNil(S3Listing(page: Array("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>".utf8)).continuationToken)
        XCTAssertEqual(S3Listing.errorCode(Array("<?xml?><Error><Code>NoSuchKey</Code></Error>".utf8)), "NoSuchKey")
        XCTAssertNil(S3Listing.errorCode(Array("plain text".utf8)))
    }

    func testRetryAfterInSecondsOrAsAnHTTPDate() {
        XCTAssertEqual(retryAfterMilliseconds("2"), 2000)
        XCTAssertEqual(retryAfterMilliseconds(" 0.5 "), 500)
        let now = 1_445_412_470.0  // Wed, 21 Oct 2015 07:27:50 GMT
        XCTAssertEqual(retryAfterMilliseconds("Wed, 21 Oct 2015 07:28:00 GMT", now: now), 10_000)
        XCTAssertEqual(retryAfterMilliseconds("Wednesday, 21-Oct-15 07:28:00 GMT", now: now), 10_000)  // RFC 850
        XCTAssertEqual(retryAfterMilliseconds("Wed Oct 21 07:28:00 2015", now: now), 10_000)  // asctime
        XCTAssertEqual(retryAfterMilliseconds("Wed, 21 Oct 2015 07:27:00 GMT", now: now), 0, "a past date: now")
        XCTAssertEqual(retryAfterMilliseconds("Thu, 22 Oct 2015 07:28:00 GMT", now: now), 3_600_000, "at most an hour")
        XCTAssertNil(retryAfterMilliseconds("Wed, 21 Oct 2015 07:28:00 GMT trailing", now: now))
        XCTAssertNil(retryAfterMilliseconds("soon", now: now))
        XCTAssertNil(retryAfterMilliseconds("-1", now: now))
    }
}
