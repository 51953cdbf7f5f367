import CFFI

/// A C type a declaration may name, with its size, signedness and libffi
/// type. Sizes are this platform's (`long` is 8 bytes on LP64 Linux).
struct CType: Sendable, Equatable, CustomStringConvertible {
    enum Kind: Sendable, Equatable {
        case void
        case signedInteger
        case unsignedInteger
        case float
        case double
        /// `void *`: any pointer the host passes or receives without reading it.
        case pointer
        /// `const char *`: a NUL-terminated string.
        case string
        /// `void *` holding the handle created by `init`.
        case handle
    }

    /// The name as the declaration spells it (for messages).
    let name: String
    let kind: Kind
    /// Bytes in memory; 0 for void.
    let size: Int

    var description: String { name }

    var isInteger: Bool { kind == .signedInteger || kind == .unsignedInteger }
    var isPointerLike: Bool { kind == .pointer || kind == .string || kind == .handle }

    /// The libffi description of the type.
    var ffiType: UnsafeMutablePointer<ffi_type> {
        switch kind {
        case .void: return bc_ffi_type_void()
        case .float: return bc_ffi_type_float()
        case .double: return bc_ffi_type_double()
        case .pointer, .string, .handle: return bc_ffi_type_pointer()
        case .signedInteger, .unsignedInteger:
            let signed = kind == .signedInteger
            switch size {
            case 1: return signed ? bc_ffi_type_sint8() : bc_ffi_type_uint8()
            case 2: return signed ? bc_ffi_type_sint16() : bc_ffi_type_uint16()
            case 4: return signed ? bc_ffi_type_sint32() : bc_ffi_type_uint32()
            default: return signed ? bc_ffi_type_sint64() : bc_ffi_type_uint64()
            }
        }
    }

    /// The values an integer type holds, as the widest Swift integers.
    var integerRange: (min: Int64, max: UInt64) {
        let unusedBits = 64 - size * 8
        if kind == .signedInteger {
            return (Int64.min >> unusedBits, UInt64(Int64.max >> unusedBits))
        }
        return (0, UInt64.max >> unusedBits)
    }

    /// The range as text for messages: "0…4294967295".
    var integerRangeText: String { "\(integerRange.min)…\(integerRange.max)" }

    /// Whether `value` fits this integer type.
    func holds(_ value: Int64) -> Bool {
        let range = integerRange
        return value >= range.min && (value < 0 || UInt64(value) <= range.max)
    }

    func holds(_ value: UInt64) -> Bool { value <= integerRange.max }
}

extension CType {
    /// Looks a type up by any of its spellings.
    static func named(_ name: String) -> CType? {
        let key = name.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        guard let (kind, size) = table[key] else { return nil }
        return CType(name: key, kind: kind, size: size)
    }

    /// The canonical names, in the order documentation and errors list them.
    static let canonicalNames = [
        "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
        "char", "uchar", "short", "ushort", "int", "uint", "long", "ulong", "longlong", "ulonglong",
        "size_t", "ssize_t", "float", "double", "pointer", "string", "handle", "void",
    ]

    private static let table: [String: (Kind, Int)] = {
        let long = MemoryLayout<CLong>.size
        // Plain char is signed on x86 and unsigned on ARM.
        func signedness<T: FixedWidthInteger>(_: T.Type) -> Kind { T.isSigned ? .signedInteger : .unsignedInteger }
        let char = signedness(CChar.self)
        var t: [String: (Kind, Int)] = [:]
        func add(_ names: [String], _ kind: Kind, _ size: Int) {
            for name in names { t[name] = (kind, size) }
        }
        add(["int8", "int8_t", "schar", "signed char"], .signedInteger, 1)
        add(["uint8", "uint8_t", "uchar", "unsigned char", "bool", "_Bool"], .unsignedInteger, 1)
        add(["char"], char, 1)
        add(["int16", "int16_t", "short", "signed short"], .signedInteger, 2)
        add(["uint16", "uint16_t", "ushort", "unsigned short"], .unsignedInteger, 2)
        add(["int32", "int32_t", "int", "signed", "signed int"], .signedInteger, 4)
        add(["uint32", "uint32_t", "uint", "unsigned", "unsigned int"], .unsignedInteger, 4)
        add(["int64", "int64_t", "longlong", "long long", "signed long long"], .signedInteger, 8)
        add(["uint64", "uint64_t", "ulonglong", "unsigned long long"], .unsignedInteger, 8)
        add(["long", "signed long"], .signedInteger, long)
        add(["ulong", "unsigned long"], .unsignedInteger, long)
        add(["ssize_t", "ptrdiff_t", "intptr_t", "off_t"], .signedInteger, MemoryLayout<Int>.size)
        add(["size_t", "uintptr_t"], .unsignedInteger, MemoryLayout<UInt>.size)
        add(["float"], .float, MemoryLayout<Float>.size)
        add(["double"], .double, MemoryLayout<Double>.size)
        add(["pointer", "void *", "void*"], .pointer, MemoryLayout<UnsafeRawPointer>.size)
        add(["string", "const char *", "const char*", "char *", "char*"], .string, MemoryLayout<UnsafeRawPointer>.size)
        add(["handle"], .handle, MemoryLayout<UnsafeRawPointer>.size)
        add(["void"], .void, 0)
        return t
    }()
}
