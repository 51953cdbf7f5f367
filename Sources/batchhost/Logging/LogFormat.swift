import BatchCore
import Glibc

/// `--log-format`: a line of text, or a JSON object, per event.
enum LogFormat: String, CaseIterable {
    case text, json

    /// One line: time, level, batch, document and stage, then the message and fields.
    func line(level: String, batch: String, document: String?, stage: String?, message: String,
              fields: [(String, String)]) -> String {
        let time = Self.timestamp()
        switch self {
        case .text:
            var parts = [time, level.uppercased(), "batch=\(batch)"]
            if let document { parts.append("document=\(document)") }
            if let stage { parts.append("stage=\(stage)") }
            parts.append(message)
            parts += fields.map { "\($0.0)=\($0.1)" }
            return parts.joined(separator: " ")
        case .json:
            var object: [String: JSONValue] = ["time": .string(time), "level": .string(level), "batch": .string(batch),
                                               "message": .string(message)]
            if let document { object["document"] = .string(document) }
            if let stage { object["stage"] = .string(stage) }
            for (key, value) in fields { object[key] = .string(value) }
            return JSONValue.object(object).text
        }
    }

    /// Now in ISO 8601, UTC, with milliseconds: 2026-03-14T09:26:53.589Z.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return isoTimestamp(Double(now.tv_sec) + Double(now.tv_nsec / 1_000_000) / 1000)
    }
}
