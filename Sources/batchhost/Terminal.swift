import Glibc

enum Terminal {
    /// Columns of the terminal on `fd`: its window size, else $COLUMNS, else 80.
    /// Asked at each redraw, so a resized window is followed.
    static func columns(of fd: Int32) -> Int {
        var size = winsize()
        if withUnsafeMutablePointer(to: &size, { ioctl(fd, UInt(TIOCGWINSZ), $0) }) == 0, size.ws_col > 0 {
            return Int(size.ws_col)
        }
        if let text = getenv("COLUMNS"), let n = Int(String(cString: text)), n > 0 { return n }
        return 80
    }

    /// Both descriptors are the same terminal (results and progress share a screen).
    static func same(_ a: Int32, _ b: Int32) -> Bool {
        var first = stat(), second = stat()
        guard isatty(a) != 0, isatty(b) != 0, fstat(a, &first) == 0, fstat(b, &second) == 0 else { return false }
        return first.st_rdev == second.st_rdev
    }

    /// Back to the start of the line, and erase it.
    static let clearLine = "\r\u{1B}[K"
}
