import BatchCore
import CBatchCore
import Glibc

/// The thread-local message behind bc_error_message().
enum LastError {
    static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { free($0) }
        return key
    }()

    static func set(_ message: String) {
        free(pthread_getspecific(key))
        pthread_setspecific(key, strdup(message))
    }

    static var message: UnsafePointer<CChar> {
        if let text = pthread_getspecific(key) { return UnsafePointer(text.assumingMemoryBound(to: CChar.self)) }
        return emptyString
    }

    nonisolated(unsafe) static let emptyString: UnsafePointer<CChar> = UnsafePointer(strdup("")!)
}

/// Runs a C API body: a thrown BatchCoreError becomes its code and the
/// thread's last error message.
func capi(_ body: () throws -> Void) -> Int32 {
    do {
        try body()
        return BC_OK
    } catch let error as BatchCoreError {
        return fail(error)
    } catch {
        return fail(BatchCoreError(.failure, "\(error)"))
    }
}

@discardableResult
func fail(_ error: BatchCoreError) -> Int32 {
    LastError.set(error.message)
    return error.code.rawValue
}

func invalid(_ what: String) -> BatchCoreError {
    BatchCoreError(.invalidArgument, what)
}

/// A required C string argument as a Swift string.
func string(_ pointer: UnsafePointer<CChar>?, _ name: String) throws -> String {
    guard let pointer else { throw invalid("\(name) must not be NULL") }
    return String(cString: pointer)
}

/// A required file name argument, its bytes kept exactly (see `FileNameBytes`).
func fileName(_ pointer: UnsafePointer<CChar>?, _ name: String) throws -> String {
    guard let pointer else { throw invalid("\(name) must not be NULL") }
    return FileNameBytes.string(cString: pointer)
}

/// Copies `value` into a caller's struct that starts with `uint32_t
/// struct_size`, writing no more than the caller's size.
func copyVersioned<T>(_ value: T, to out: UnsafeMutablePointer<T>) throws {
    let callerSize = Int(out.withMemoryRebound(to: UInt32.self, capacity: 1) { $0.pointee })
    guard callerSize >= MemoryLayout<UInt32>.size else {
        throw invalid("struct_size must be set to sizeof the struct (got \(callerSize))")
    }
    var value = value
    let count = min(callerSize, MemoryLayout<T>.size)
    withUnsafeBytes(of: &value) { source in
        UnsafeMutableRawPointer(out).copyMemory(from: source.baseAddress!, byteCount: count)
    }
    out.withMemoryRebound(to: UInt32.self, capacity: 1) { $0.pointee = UInt32(callerSize) }
}

/// A malloc'd C string the caller frees with bc_free.
func mallocString(_ s: String) -> UnsafeMutablePointer<CChar> { strdup(s)! }

@c public func bc_error_message() -> UnsafePointer<CChar> { LastError.message }

@c public func bc_error_name(_ code: Int32) -> UnsafePointer<CChar> {
    let name: StaticString = switch code {
    case BC_OK: "BC_OK"
    case BC_EINVAL: "BC_EINVAL"
    case BC_EOPTION: "BC_EOPTION"
    case BC_ENOTFOUND: "BC_ENOTFOUND"
    case BC_EPLUGIN: "BC_EPLUGIN"
    case BC_EABI: "BC_EABI"
    case BC_EINPUT: "BC_EINPUT"
    case BC_ESTATE: "BC_ESTATE"
    case BC_ETIMEOUT: "BC_ETIMEOUT"
    case BC_EIO: "BC_EIO"
    default: "BC_ERROR"
    }
    return UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)
}

@c public func bc_free(_ pointer: UnsafeMutableRawPointer?) { free(pointer) }
