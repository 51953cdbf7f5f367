import BatchCore
import CBatchCore
import FoundationEssentials

@c public func bc_engine_new(_ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    capi {
        guard let out else { throw invalid("out must not be NULL") }
        out.pointee = retain(Engine())
    }
}

@c public func bc_engine_free(_ engine: OpaquePointer?) {
    release(engine, as: Engine.self)
}

@c public func bc_engine_set(_ engine: OpaquePointer?, _ key: UnsafePointer<CChar>?, _ value: UnsafePointer<CChar>?) -> Int32 {
    capi {
        try borrow(engine, as: Engine.self, "engine").set(string(key, "key"), string(value, "value"))
    }
}

@c public func bc_engine_register_processor(_ engine: OpaquePointer?, _ def: UnsafePointer<bc_processor_def>?) -> Int32 {
    capi {
        let engine = try borrow(engine, as: Engine.self, "engine")
        guard let def else { throw invalid("def must not be NULL") }
        try ProcessorDefinition(def).register(on: engine)
    }
}

@c public func bc_engine_register_plugin(_ engine: OpaquePointer?, _ plugin: UnsafePointer<bc_plugin>?,
                                         _ release: HostUserData.Release?, _ userData: UnsafeMutableRawPointer?) -> Int32 {
    capi {
        let engine = try borrow(engine, as: Engine.self, "engine")
        guard let plugin else { throw invalid("plugin must not be NULL") }
        try registerDescriptor(plugin, on: engine, userData: HostUserData(userData, release: release))
    }
}

@c public func bc_engine_list_processors(_ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ engine: OpaquePointer?) -> Int32 {
    capi {
        guard let out else { throw invalid("out_json must not be NULL") }
        let engine = try borrow(engine, as: Engine.self, "engine")
        let items: [JSONValue] = engine.listProcessors().map { entry in
            switch entry {
            case .success(let info): return info.json
            case .failure(let failure):
                return .object(["path": .string(failure.path), "error": .string(failure.error.message)])
            }
        }
        out.pointee = mallocString(JSONValue.array(items).text)
    }
}

@c public func bc_engine_stats(_ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ engine: OpaquePointer?) -> Int32 {
    capi {
        guard let out else { throw invalid("out_json must not be NULL") }
        out.pointee = mallocString(try borrow(engine, as: Engine.self, "engine").statsJSON())
    }
}

@c public func bc_options_describe(_ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    capi {
        guard let out else { throw invalid("out_json must not be NULL") }
        let items: [JSONValue] = BatchOptions.table.specs.map {
            .object(["key": .string($0.key), "default": .string($0.defaultValue), "help": .string($0.help)])
        }
        out.pointee = mallocString(JSONValue.array(items).text)
    }
}

extension ProcessorInfo {
    var json: JSONValue {
        var object: [String: JSONValue] = [
            "name": .string(name), "version": .string(version),
            "description": .string(description), "kind": .string(kind.rawValue),
            "path": path.map { .string($0) } ?? .null,
        ]
        object["options"] = options.map { list in
            .array(list.map { option in
                .object(["name": .string(option.name),
                         "default": option.defaultValue.map { .string($0) } ?? .null,
                         "help": .string(option.help)])
            })
        } ?? .null
        return .object(object)
    }
}
