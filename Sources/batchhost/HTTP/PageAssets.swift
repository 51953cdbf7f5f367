/// The status page, served from the binary (see PageFiles.swift).
enum PageAssets {
    static func response(for path: String) -> HTTPResponse? {
        guard let file = pageFiles[path == "/index.html" ? "/" : path] else { return nil }
        return HTTPResponse(contentType: file.contentType, text: file.text)
    }
}
