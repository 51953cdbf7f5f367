import BatchCore
import CBatchCore

@c public func bc_version_number() -> Int32 {
    Int32(BC_VERSION_MAJOR * 10000 + BC_VERSION_MINOR * 100 + BC_VERSION_PATCH)
}

private let versionString: StaticString = "0.1.0"

@c public func bc_version_string() -> UnsafePointer<CChar> {
    UnsafeRawPointer(versionString.utf8Start).assumingMemoryBound(to: CChar.self)
}
