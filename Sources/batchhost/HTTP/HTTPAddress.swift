import BatchCore
import Glibc

/// Where `--http [HOST:]PORT` listens: an IPv4 address, loopback unless a host is given.
struct HTTPAddress {
    let host: String
    let port: UInt16
    let socketAddress: sockaddr_in

    /// Parses `[HOST:]PORT`; HOST is a name or an IPv4 address.
    init(parsing text: String) throws {
        let host: String
        let portText: String
        if let colon = text.lastIndex(of: ":") {
            host = String(text[..<colon])
            portText = String(text[text.index(after: colon)...])
        } else {
            host = "127.0.0.1"
            portText = text
        }
        guard let port = UInt16(portText) else {
            throw BatchCoreError(.invalidArgument, "--http '\(text)': expected [HOST:]PORT with PORT a number from 0 to 65535 (0 picks a free port)")
        }
        self.host = host
        self.port = port
        socketAddress = try Self.resolve(host, port: port, flag: text)
    }

    private static func resolve(_ host: String, port: UInt16, flag: String) throws -> sockaddr_in {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(host, nil, &hints, &found) == 0, let first = found else {
            throw BatchCoreError(.invalidArgument, "--http '\(flag)': cannot resolve host '\(host)' to an IPv4 address; give an address such as 127.0.0.1 or 0.0.0.0")
        }
        defer { freeaddrinfo(found) }
        var address = first.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee }
        address.sin_port = port.bigEndian
        return address
    }

    /// 127.0.0.0/8: only this machine can connect.
    var isLoopback: Bool { UInt32(bigEndian: socketAddress.sin_addr.s_addr) >> 24 == 127 }
}
