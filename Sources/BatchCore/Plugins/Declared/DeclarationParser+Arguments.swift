import TOMLKit

/// Arguments of a declared call: `{ type = "…", from = "…" }` and what each
/// source needs of its type.
extension DeclarationParser {
    static func parseArgument(_ f: DeclarationFields, index: Int, role: Role) throws -> ArgumentDeclaration {
        try f.allowOnly(["type", "from", "value", "capacity"])
        guard let typeName = try f.string("type") else {
            throw f.error("type", "missing; give the C type of argument \(index), e.g. type = \"int\" (known types: \(CType.canonicalNames.joined(separator: ", ")))")
        }
        let type = try type(named: typeName, f, "type")
        if type.kind == .void {
            throw f.error("type", "void is only a return type; an argument needs a type with a value")
        }
        guard let sourceName = try f.string("from") else {
            throw f.error("from", "missing; say where the value comes from: \(sourceList)")
        }
        guard let tag = ArgumentSource.Tag(rawValue: sourceName) else {
            throw f.error("from", "unknown source '\(sourceName)'\(suggestion(sourceName, ArgumentSource.Tag.allCases.map(\.rawValue))); expected one of \(sourceList)")
        }
        try checkAvailable(tag, role: role, f)
        let source = try source(tag, type: type, f)
        if type.kind == .handle && tag != .handle && tag != .null {
            throw f.error("type", "type handle is for the handle itself (from = \"handle\"); use \"pointer\" for other pointers")
        }
        return ArgumentDeclaration(type: type, source: source)
    }

    /// What the call can offer: documents only exist in process, the
    /// handle only after the first init call; value and capacity belong to
    /// one source each.
    private static func checkAvailable(_ tag: ArgumentSource.Tag, role: Role, _ f: DeclarationFields) throws {
        let documentSources: Set<ArgumentSource.Tag> = [.bytes, .length, .path, .id, .buffer, .capacity, .written]
        if !role.isProcess && documentSources.contains(tag) {
            throw f.error("from", "source '\(tag.rawValue)' is only available in [process]: init and cleanup run without a document; use const, null or handle")
        }
        if tag == .handle && !role.hasHandle {
            if case .createHandle = role {
                throw f.error("from", "this call creates the handle, so it cannot take it as an argument")
            }
            throw f.error("from", "source 'handle' needs a handle, but nothing creates one: add an [[init]] call with returns = \"handle\"")
        }
        if f.has("value") && tag != .constant {
            throw f.error("value", "only a const argument takes a value (this one is from = \"\(tag.rawValue)\")")
        }
        if f.has("capacity") && tag != .buffer {
            throw f.error("capacity", "only a buffer argument takes a capacity (this one is from = \"\(tag.rawValue)\")")
        }
    }

    /// The source `tag` names, once `type` suits it.
    private static func source(_ tag: ArgumentSource.Tag, type: CType, _ f: DeclarationFields) throws -> ArgumentSource {
        func requireType(_ allowed: (CType) -> Bool, _ expected: String) throws {
            guard allowed(type) else {
                throw f.error("type", "source '\(tag.rawValue)' needs \(expected), not \(type)")
            }
        }
        switch tag {
        case .bytes:
            try requireType({ $0.kind == .pointer || $0.kind == .string }, "a pointer or string type")
            return .bytes
        case .length:
            try requireType(\.isInteger, "an integer type (e.g. size_t)")
            return .length
        case .path, .id:
            try requireType({ $0.kind == .string || $0.kind == .pointer }, "type string (const char *)")
            return tag == .path ? .path : .id
        case .handle:
            try requireType({ $0.kind == .handle || $0.kind == .pointer }, "type handle")
            return .handle
        case .null:
            try requireType(\.isPointerLike, "a pointer type (pointer, string or handle)")
            return .null
        case .constant:
            return .constant(try constant(f, type: type))
        case .buffer:
            try requireType({ $0.kind == .pointer || $0.kind == .string }, "a pointer or string type (char *)")
            let capacity = try f.int("capacity") ?? defaultBufferCapacity
            guard (1...maxBufferCapacity).contains(capacity) else {
                throw f.error("capacity", "\(capacity) is out of range; expected 1 to \(maxBufferCapacity) bytes")
            }
            return .buffer(capacity: capacity)
        case .capacity:
            try requireType(\.isInteger, "an integer type (e.g. size_t)")
            return .capacity
        case .written:
            try requireType({ $0.kind == .pointer }, "type pointer (it points to a size_t the function sets)")
            return .written
        }
    }

    private static func constant(_ f: DeclarationFields, type: CType) throws -> ArgumentSource.Constant {
        guard let raw = f.value("value") else {
            throw f.error("value", "missing; a const argument needs a value, e.g. value = 0")
        }
        switch type.kind {
        case .signedInteger, .unsignedInteger:
            guard let value = raw.int else {
                throw f.error("value", "expected an integer for type \(type), got \(describe(raw))")
            }
            guard type.holds(Int64(value)) else {
                throw f.error("value", "\(value) does not fit in \(type) (\(type.integerRangeText))")
            }
            return .integer(Int64(value))
        case .float, .double:
            if let value = raw.double { return .float(value) }
            if let value = raw.int { return .float(Double(value)) }
            throw f.error("value", "expected a number for type \(type), got \(describe(raw))")
        case .string:
            guard let value = raw.string else {
                throw f.error("value", "expected a string for type string, got \(describe(raw))")
            }
            guard !value.utf8.contains(0) else {
                throw f.error("value", "a C string cannot hold a NUL character")
            }
            return .string(value)
        case .pointer, .handle, .void:
            throw f.error("type", "a const argument needs a number or string type; for a NULL pointer use from = \"null\"")
        }
    }
}
