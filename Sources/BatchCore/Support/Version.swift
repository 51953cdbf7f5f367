import CBatchCore

/// batchcore's version, "MAJOR.MINOR.PATCH", from include/batchcore_version.h.
public let batchcoreVersion = String(cString: bc_shim_version_string())
