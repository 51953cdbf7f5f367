import CBatchCore

/// Presents a document to C code as a `bc_doc`, valid during `body` only.
public func withCDocument<R>(_ doc: DocumentInput, _ body: (UnsafePointer<bc_doc>) -> R) -> R {
    FileNameBytes.withCString(doc.document.id) { id in
        withOptionalFileName(doc.document.path) { path in
            doc.document.metadata.withCString { metadata in
                withOptionalBytes(doc.input) { input, length in
                    withOptionalBytes(doc.document.content) { content, contentLength in
                        var cdoc = bc_doc(
                            struct_size: UInt32(MemoryLayout<bc_doc>.size),
                            stage: UInt32(doc.stage),
                            attempt: UInt32(doc.attempt),
                            reserved: 0,
                            id: id,
                            path: path,
                            metadata_json: metadata,
                            input: input,
                            input_len: length,
                            content: content,
                            content_len: contentLength)
                        return withUnsafePointer(to: &cdoc) { body($0) }
                    }
                }
            }
        }
    }
}

/// The exact bytes of a file name (or id) as a C string; nil stays NULL.
func withOptionalFileName<R>(_ name: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let name else { return body(nil) }
    return FileNameBytes.withCString(name) { body($0) }
}

/// nil stays NULL; an empty array becomes a non-NULL pointer of length 0.
func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafePointer<UInt8>?, Int) -> R) -> R {
    guard let bytes else { return body(nil, 0) }
    if bytes.isEmpty {
        var zero: UInt8 = 0
        return withUnsafePointer(to: &zero) { body($0, 0) }
    }
    return bytes.withUnsafeBufferPointer { body($0.baseAddress, $0.count) }
}

/// Maps a raw outcome from C onto `Outcome`; anything else fails the document.
public func outcomeFromC(_ raw: Int32, _ call: CallContext, processor: String) -> Outcome {
    if let outcome = Outcome(rawValue: raw) { return outcome }
    call.error = "processor '\(processor)' returned \(raw), which is not a bc_outcome (0 done, 1 partial, 2 retry, 3 fail, 4 pending)"
    return .fail
}
