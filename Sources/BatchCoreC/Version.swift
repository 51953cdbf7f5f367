import BatchCore
import CBatchCore

@c public func bc_version_number() -> Int32 { Int32(BC_VERSION_MAJOR * 10000 + BC_VERSION_MINOR * 100 + BC_VERSION_PATCH) }
