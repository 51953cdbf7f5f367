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
        var parts = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let millis = Int(now.tv_nsec / 1_000_000)
        let ms = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(ms)Z"
    }
}
