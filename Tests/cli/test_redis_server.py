"""The redis-server harness starts, keeps data across a restart, and stops cleanly."""
import socket

from redis_server import RedisServer


def command(port, *args):
    """Sends one command in RESP and returns the raw reply."""
    payload = f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload.encode())
        return s.recv(1024)


def test_starts_restarts_with_its_data_and_stops():
    with RedisServer(appendonly=True) as server:
        assert command(server.port, "SET", "k", "v") == b"+OK\r\n"
        process = server.process
        server.stop()
        assert process.returncode == 0
        assert not server.answers_ping()
        server.start()
        assert command(server.port, "GET", "k") == b"$1\r\nv\r\n"
        directory, process = server.dir, server.process
    assert process.returncode == 0
    assert not directory.exists()
    assert not server.answers_ping()


def test_a_password_is_honoured():
    with RedisServer(extra=["--requirepass", "s3cret"]) as server:
        assert command(server.port, "GET", "k").startswith(b"-NOAUTH")
