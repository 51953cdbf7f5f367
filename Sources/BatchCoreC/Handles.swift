import BatchCore
import CBatchCore

/// C handles are retained Swift objects: bc_engine* is an Engine,
/// bc_batch* a BatchHandle, bc_results* a ResultsCursor.
func retain<T: AnyObject>(_ object: T) -> OpaquePointer {
    OpaquePointer(Unmanaged.passRetained(object).toOpaque())
}

func borrow<T: AnyObject>(_ pointer: OpaquePointer?, as type: T.Type, _ name: String) throws -> T {
    guard let pointer else { throw invalid("\(name) must not be NULL") }
    return object(UnsafeRawPointer(pointer), as: type)
}

/// The object behind a handle known not to be NULL (or a C state pointer).
func object<T: AnyObject>(_ pointer: UnsafeRawPointer, as type: T.Type) -> T {
    Unmanaged<T>.fromOpaque(pointer).takeUnretainedValue()
}

func release<T: AnyObject>(_ pointer: OpaquePointer?, as type: T.Type) {
    guard let pointer else { return }
    Unmanaged<T>.fromOpaque(UnsafeRawPointer(pointer)).release()
}
