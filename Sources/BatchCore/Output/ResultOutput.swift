import FoundationEssentials

/// A document's output as JSON text, as every format and sink writes it:
/// JSON as the processor gave it (newlines dropped, so it stays one line),
/// else a JSON string, else a JSON string of base64 with `encoding` "base64".
struct ResultOutput {
    /// nil when there is no output.
    let json: [UInt8]?
    let encoding: String?
    /// The processor's output was JSON itself (not wrapped in a string).
    let isJSON: Bool

    init(_ r: DocumentResult) {
        guard let output = r.output else {
            (json, encoding, isJSON) = (nil, nil, false)
            return
        }
        var out: [UInt8] = []
        if r.outputIsJSON {
            (json, encoding, isJSON) = (output.filter { $0 != 0x0A && $0 != 0x0D }, nil, true)
        } else if let text = String(validating: output, as: UTF8.self) {
            appendJSONString(text, to: &out)
            (json, encoding, isJSON) = (out, nil, false)
        } else {
            appendJSONString(Data(output).base64EncodedString(), to: &out)
            (json, encoding, isJSON) = (out, "base64", false)
        }
    }
}
