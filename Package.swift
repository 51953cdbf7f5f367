// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "batchcore",
    products: [
        // The engine with its C API: libbatchcore.so.
        .library(name: "batchcore", type: .dynamic, targets: ["BatchCoreC"]),
        // Bundled plugins, built next to libbatchcore.so where the engine finds them.
        .library(name: "batchcore-text", type: .dynamic, targets: ["TextPlugin"]),
        .library(name: "batchcore-llm", type: .dynamic, targets: ["LLMPlugin"]),
        .library(name: "batchcore-pdf", type: .dynamic, targets: ["PDFPlugin"]),
        .library(name: "batchcore-ocr", type: .dynamic, targets: ["OCRPlugin"]),
        .executable(name: "batchhost", targets: ["batchhost"]),
        // Runs a stage's processor in a process of its own (isolation=process);
        // the engine finds it beside libbatchcore.so.
        .executable(name: "batchcore-worker", targets: ["batchcore-worker"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // The public C headers (include/) as a Clang module, plus small shims.
        .target(name: "CBatchCore", path: "Sources/CBatchCore", linkerSettings: [.linkedLibrary("crypto")]),
        // Debian's libsqlite3 for the journal.
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // libffi, for declared processors (C functions described in a TOML file).
        .systemLibrary(name: "CFFI", path: "Sources/CFFI", pkgConfig: "libffi", providers: [.apt(["libffi-dev"])]),
        // Debian's hiredis 0.14 (no TLS), the client of the Redis storage for distributed batches.
        // Not through pkg-config: its only flag, -D_FILE_OFFSET_BITS=64, is one SwiftPM refuses noisily.
        .systemLibrary(name: "CHiredis", path: "Sources/CHiredis", providers: [.apt(["libhiredis-dev"])]),
        // Debian's libmicrohttpd: the HTTP server of `batchhost run --http`.
        .systemLibrary(name: "CMicroHTTPD", path: "Sources/CMicroHTTPD", pkgConfig: "libmicrohttpd", providers: [.apt(["libmicrohttpd-dev"])]),
        // The Redis implementations of the engine's seams and the distributed batch
        // operations (submit, worker, status, collect); hiredis is loaded with dlopen on first use.
        .target(name: "BatchCoreRedis", dependencies: ["CHiredis", "BatchCore"], path: "Sources/BatchCoreRedis"),
        .target(
            name: "BatchCore",
            dependencies: [
                "CBatchCore",
                "CSQLite",
                "CFFI",
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            path: "Sources/BatchCore"
        ),
        .target(
            name: "BatchCoreC",
            dependencies: ["BatchCore", "BatchCoreRedis", "CBatchCore"],
            path: "Sources/BatchCoreC"
        ),
        .executableTarget(
            name: "batchhost",
            dependencies: [
                "BatchCore",
                "BatchCoreRedis",
                "CMicroHTTPD",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/batchhost",
            // The status page's files, embedded by scripts/embed-page.
            exclude: ["HTTP/page"]
        ),
        .executableTarget(
            name: "batchcore-worker",
            dependencies: ["BatchCore"],
            path: "Sources/batchcore-worker"
        ),
        .target(
            name: "TextPlugin",
            path: "plugins/text",
            publicHeadersPath: ".",
            cSettings: [.headerSearchPath("../../include")],
            linkerSettings: [.linkedLibrary("crypto")]
        ),
        // Debian's libcurl4-openssl-dev, libjansson-dev and libssl-dev (base64).
        .target(
            name: "LLMPlugin",
            path: "plugins/llm",
            publicHeadersPath: ".",
            cSettings: [.headerSearchPath("../../include")],
            linkerSettings: [.linkedLibrary("curl"), .linkedLibrary("jansson"), .linkedLibrary("crypto")]
        ),
        // Debian's libpoppler-glib-dev (with cairo), libtesseract-dev and libleptonica-dev.
        .systemLibrary(name: "CPoppler", path: "Sources/CPoppler", pkgConfig: "poppler-glib",
                       providers: [.apt(["libpoppler-glib-dev", "libcairo2-dev"])]),
        .systemLibrary(name: "CTesseract", path: "Sources/CTesseract", pkgConfig: "tesseract",
                       providers: [.apt(["libtesseract-dev", "libleptonica-dev"])]),
        // What the pdf and ocr plugins share: options, output, opening PDFs,
        // the OCR interface (the ocr plugin exports it for pdf's ocr=auto).
        .target(
            name: "DocCore",
            dependencies: ["CPoppler"],
            path: "plugins/doccore",
            publicHeadersPath: ".",
            cSettings: [.headerSearchPath("../../include")]
        ),
        .target(
            name: "PDFPlugin",
            dependencies: ["DocCore"],
            path: "plugins/pdf",
            publicHeadersPath: ".",
            cSettings: [.headerSearchPath("../../include")]
        ),
        .target(
            name: "OCRPlugin",
            dependencies: ["DocCore", "CTesseract"],
            path: "plugins/ocr",
            publicHeadersPath: ".",
            cSettings: [.headerSearchPath("../../include")]
        ),
        .testTarget(
            name: "BatchCoreTests",
            dependencies: ["BatchCore"],
            path: "Tests/BatchCoreTests"
        ),
        // Starts its own redis-server (Debian's redis-server) on a free loopback port.
        .testTarget(
            name: "BatchCoreRedisTests",
            dependencies: ["BatchCoreRedis", "BatchCore"],
            path: "Tests/BatchCoreRedisTests"
        ),
    ]
)
