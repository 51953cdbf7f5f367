import CFFI
import Glibc

/// A value passed to or returned by a C function. Integers travel as their
/// 64-bit pattern; signed values are sign-extended.
enum CValue {
    case integer(UInt64)
    case floating(Double)
    case pointer(UnsafeRawPointer?)
    case void

    static func signed(_ value: Int64) -> CValue { .integer(UInt64(bitPattern: value)) }
}

/// A C function bound to its address, with the libffi call interface
/// (`ffi_cif`) prepared once at load. `call` only reads the cif, so it may
/// run on many threads at once.
final class FFIFunction: @unchecked Sendable {  // unchecked: the cif and its types are written once in init and only read after (see above)
    let name: String
    let returns: CType
    let parameters: [CType]
    private let entry: @convention(c) () -> Void
    private let cif: UnsafeMutablePointer<ffi_cif>
    private let parameterTypes: UnsafeMutablePointer<UnsafeMutablePointer<ffi_type>?>

    /// - Throws: a message when libffi refuses the signature.
    init(name: String, address: UnsafeMutableRawPointer, returns: CType, parameters: [CType]) throws(FFIError) {
        self.name = name
        self.returns = returns
        self.parameters = parameters
        entry = unsafeBitCast(address, to: (@convention(c) () -> Void).self)
        cif = .allocate(capacity: 1)
        parameterTypes = .allocate(capacity: max(1, parameters.count))
        for (index, type) in parameters.enumerated() { parameterTypes[index] = type.ffiType }
        let status = ffi_prep_cif(cif, bc_ffi_default_abi(), UInt32(parameters.count), returns.ffiType,
                                  parameters.isEmpty ? nil : parameterTypes)
        guard status == FFI_OK else {
            cif.deallocate()
            parameterTypes.deallocate()
            let reason = status == FFI_BAD_TYPEDEF ? "bad type definition" : status == FFI_BAD_ABI ? "bad ABI" : "status \(status.rawValue)"
            throw FFIError(message: "libffi cannot prepare a call to \(name): \(reason)")
        }
    }

    deinit {
        cif.deallocate()
        parameterTypes.deallocate()
    }

    /// What a call returned, and errno as the call left it (read at once,
    /// before anything else on this thread can change it).
    struct Result {
        let value: CValue
        let errno: Int32
    }

    /// Calls the function with one value per parameter, converted to the
    /// declared types (integers are truncated to their width).
    func call(_ arguments: [CValue]) -> Result {
        precondition(arguments.count == parameters.count, "\(name) takes \(parameters.count) arguments, got \(arguments.count)")
        let count = parameters.count
        // Every argument gets an 8-byte, 8-aligned slot: no supported type is larger.
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: max(1, count)) { slots in
            withUnsafeTemporaryAllocation(of: UnsafeMutableRawPointer?.self, capacity: max(1, count)) { pointers in
                for index in 0..<count {
                    let slot = UnsafeMutableRawPointer(slots.baseAddress! + index)
                    Self.store(arguments[index], as: parameters[index], at: slot)
                    pointers[index] = slot
                }
                // libffi writes integer results narrower than a register as a
                // whole ffi_arg; 16 bytes hold any supported result.
                // Every argument gets an 8-byte, 8-aligned slot: no supported type is larger.
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 2) { result in
                    result.initialize(repeating: 0)
                    ffi_call(cif, entry, UnsafeMutableRawPointer(result.baseAddress!), pointers.baseAddress)
                    let error = Glibc.errno
                    return Result(value: Self.load(UnsafeRawPointer(result.baseAddress!), as: returns), errno: error)
                }
            }
        }
    }

    private static func store(_ value: CValue, as type: CType, at slot: UnsafeMutableRawPointer) {
        switch (type.kind, value) {
        case (.signedInteger, .integer(let bits)), (.unsignedInteger, .integer(let bits)):
            switch type.size {
            case 1: slot.storeBytes(of: UInt8(truncatingIfNeeded: bits), as: UInt8.self)
            case 2: slot.storeBytes(of: UInt16(truncatingIfNeeded: bits), as: UInt16.self)
            case 4: slot.storeBytes(of: UInt32(truncatingIfNeeded: bits), as: UInt32.self)
            default: slot.storeBytes(of: bits, as: UInt64.self)
            }
        case (.float, .floating(let value)):
            slot.storeBytes(of: Float(value), as: Float.self)
        case (.double, .floating(let value)):
            slot.storeBytes(of: value, as: Double.self)
        case (.pointer, .pointer(let pointer)), (.string, .pointer(let pointer)), (.handle, .pointer(let pointer)):
            slot.storeBytes(of: pointer, as: UnsafeRawPointer?.self)
        default:
            preconditionFailure("a \(value) value for a \(type) parameter: the declaration checks should have refused this")
        }
    }

    private static func load(_ result: UnsafeRawPointer, as type: CType) -> CValue {
        switch type.kind {
        case .void:
            return .void
        case .signedInteger, .unsignedInteger:
            let raw = bc_ffi_arg_size() == 8 || type.size == 8
                ? result.load(as: UInt64.self)
                : UInt64(result.load(as: UInt32.self))
            return .integer(type.normalize(raw))
        case .float:
            return .floating(Double(result.load(as: Float.self)))
        case .double:
            return .floating(result.load(as: Double.self))
        case .pointer, .string, .handle:
            return .pointer(result.load(as: UnsafeRawPointer?.self))
        }
    }
}

struct FFIError: Error {
    let message: String
}

extension CType {
    /// Keeps the type's width of `raw` and sign-extends signed types, so equal
    /// C values have equal patterns whatever the caller passed.
    func normalize(_ raw: UInt64) -> UInt64 {
        let unusedBits = UInt64(64 - size * 8)
        guard unusedBits > 0 else { return raw }
        if kind == .signedInteger {
            return UInt64(bitPattern: Int64(bitPattern: raw << unusedBits) >> Int64(unusedBits))
        }
        return (raw << unusedBits) >> unusedBits
    }

    /// A normalized integer as text, with the type's signedness.
    func decimal(_ bits: UInt64) -> String {
        kind == .signedInteger ? String(Int64(bitPattern: bits)) : String(bits)
    }
}
