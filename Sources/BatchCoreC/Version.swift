import BatchCore
import CBatchCore

@c public func bc_version_number() -> Int32 {
    // BC_VERSION_NUMBER, which Swift cannot import (an expression).
    Int32(BC_VERSION_MAJOR * 10000 + BC_VERSION_MINOR * 100 + BC_VERSION_PATCH)
}

@c public func bc_version_string() -> UnsafePointer<CChar> {
    bc_shim_version_string()
}
