import BatchCore

/// What each path answers: the page, `/metrics`, the JSON API and the
/// operator actions.
struct StatusRoutes: Sendable {
    let source: StatusSource
    let access: AccessPolicy

    func handle(_ request: HTTPRequest) -> HTTPResponse {
        guard access.mayRead(request) else {
            return .error(401, "this server needs its token: send 'Authorization: Bearer TOKEN' or add ?token=TOKEN")
        }
        if request.method == "POST" { return act(request) }
        guard request.method == "GET" || request.method == "HEAD" else {
            return .error(405, "\(request.method) is not served: read with GET, act with POST")
        }
        do {
            return try read(request)
        } catch {
            return failure(error)
        }
    }

    private func read(_ request: HTTPRequest) throws -> HTTPResponse {
        switch request.path {
        case "/metrics":
            return HTTPResponse(contentType: PrometheusWriter.contentType, text: RunMetrics.text(for: try source.batches()))
        case "/api/status":
            return .json(StatusJSON.status(try source.batches(), readOnly: access.readOnly).bytes)
        case "/api/documents":
            return documents(request)
        case let path where path.hasPrefix("/api/documents/"):
            return document(id: String(path.dropFirst("/api/documents/".count)), batch: request.query("batch"))
        case let path where Self.actions.contains(path):
            return .error(405, "\(path) is an action: send it with POST (and the token)")
        default:
            return PageAssets.response(for: request.path) ?? .error(404, "no such page: \(request.path); see / , /metrics, /api/status, /api/documents")
        }
    }

    static let actions = ["/api/cancel", "/api/pause", "/api/resume", "/api/retry"]
    /// A retry's answer names at most this many of the documents it put back.
    static let idsShown = 100

    private func act(_ request: HTTPRequest) -> HTTPResponse {
        guard Self.actions.contains(request.path) else {
            return .error(404, "no action at \(request.path); actions (POST): " + Self.actions.joined(separator: ", "))
        }
        if let refusal = access.refusal(of: request) { return refusal }
        let batch = request.parameter("batch")
        do {
            switch request.path {
            case "/api/cancel":
                try source.cancel(batch: batch)
                return done(["cancelled": .bool(true)])
            case "/api/pause", "/api/resume":
                let paused = request.path == "/api/pause"
                try source.setPaused(paused, batch: batch)
                return done(["paused": .bool(paused)])
            default:
                return try retry(request, batch: batch)
            }
        } catch {
            return failure(error)
        }
    }

    private func done(_ fields: [String: JSONValue]) -> HTTPResponse { .json(JSONValue.object(fields).bytes) }

    /// An error as its status: 404 not found, 400 a bad request, 503 a
    /// store out of reach, else 409 (the batch is not in a state for it).
    private func failure(_ error: Error) -> HTTPResponse {
        guard let error = error as? BatchCoreError else { return .error(500, "\(error)") }
        switch error.code {
        case .notFound: return .error(404, error.message)
        case .invalidArgument: return .error(400, error.message)
        case .io: return .error(503, error.message)
        default: return .error(409, error.message)
        }
    }

    /// `id=ID` (one document), `error=MESSAGE` with `stage=LABEL` (a failure
    /// group; no stage: failures outside any stage), or `all=true`.
    private func retry(_ request: HTTPRequest, batch: String?) throws -> HTTPResponse {
        let selection: RetrySelection
        if let id = request.parameter("id") {
            selection = .document(id)
        } else if let error = request.parameter("error") {
            selection = .group(stage: request.parameter("stage"), error: error)
        } else if request.parameter("all") == "true" {
            selection = .allFailed
        } else {
            return .error(400, "say which failed documents to run again: id=ID, error=MESSAGE (with stage=LABEL), or all=true")
        }
        let answer = try source.retry(selection, batch: batch)
        guard answer.matched > 0 else { return .error(404, "no failed document matches: it may have been run again already") }
        return done(["matched": .number(Double(answer.matched)), "requeued": .number(Double(answer.requeued.count)),
                     "ids": .array(answer.requeued.prefix(Self.idsShown).map(JSONValue.string)),
                     "content_not_kept": .array(answer.contentGone.prefix(Self.idsShown).map(JSONValue.string))])
    }

    private func documents(_ request: HTTPRequest) -> HTTPResponse {
        var filter = JournalReader.DocumentFilter()
        var status: ListedStatus? = nil
        if let name = request.query("status") {
            guard let parsed = ListedStatus(name: name) else { return .error(400, "status '\(name)': expected \(ListedStatus.expected)") }
            status = parsed
            if case .ended(let ended) = parsed { filter.status = ended }
        }
        filter.stage = request.query("stage")
        filter.text = request.query("q")
        filter.after = request.query("after")
        if let limit = request.query("limit") {
            guard let n = Int(limit), (1...1000).contains(n) else { return .error(400, "limit '\(limit)': expected 1 to 1000") }
            filter.limit = n
        }
        do {
            return .json(StatusJSON.page(try source.documents(filter, status: status, batch: request.query("batch")), limit: filter.limit).bytes)
        } catch {
            return notFound(error)
        }
    }

    private func document(id: String, batch: String?) -> HTTPResponse {
        do {
            guard let (found, history) = try source.document(id: id, batch: batch) else { return .error(404, "no finished document with id '\(id)'") }
            return .json(StatusJSON.document(found, history: history).bytes)
        } catch {
            return notFound(error)
        }
    }
}

/// A journal that cannot be read, or a run without one.
private func notFound(_ error: Error) -> HTTPResponse {
    .error(404, (error as? BatchCoreError)?.message ?? "\(error)")
}

extension JSONValue {
    var bytes: [UInt8] { Array((text + "\n").utf8) }
}
