"""A PostgreSQL cluster of the test's own: initdb in a temporary directory,
a free port, its unix socket in that directory, password authentication.

    with PostgresServer() as server:
        ... server.url("dbname") ... server.psql("SELECT 1")
        server.stop(); server.start()   # same port and data
"""
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from redis_server import free_port

BIN = Path("/usr/lib/postgresql/15/bin")
USER, PASSWORD = "batch", "s3cret-pw"


def _as_cluster_owner():
    """initdb and postgres refuse to run as root: run them as 'postgres' then."""
    if os.getuid() != 0:
        return None, None
    owner = pwd.getpwnam("postgres")
    return owner, lambda: (os.setgid(owner.pw_gid), os.setuid(owner.pw_uid))


class PostgresServer:
    def __init__(self):
        if not (BIN / "initdb").exists():
            raise RuntimeError(f"{BIN / 'initdb'} is missing: install Debian's postgresql (scripts/install-deps does, as root)")
        self.dir = Path(tempfile.mkdtemp(prefix="postgres-test-"))
        self.data = self.dir / "data"
        self.port = None
        self.owner, self.preexec = _as_cluster_owner()
        if self.owner:
            os.chown(self.dir, self.owner.pw_uid, self.owner.pw_gid)
        pwfile = self.dir / "pw"
        pwfile.write_text(PASSWORD + "\n")
        self._run(BIN / "initdb", "-D", self.data, "-U", USER, "--pwfile", pwfile, "--auth=scram-sha-256", "-E", "UTF8")
        pwfile.unlink()

    def _run(self, *args, check=True):
        return subprocess.run([str(a) for a in args], preexec_fn=self.preexec, capture_output=True, text=True,
                              check=check, cwd=self.dir, env={**os.environ, "PGPASSWORD": PASSWORD})

    def url(self, database="postgres", table="results", user=USER):
        return f"postgresql://{user}@/{database}?host={self.dir}&port={self.port}&table={table}"

    def __enter__(self):
        self.port = free_port()
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self):
        """Starts the server and waits until it takes connections (pg_ctl -w)."""
        self._run(BIN / "pg_ctl", "-D", self.data, "-l", self.dir / "log", "-w", "-t", "60", "start", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses='' -c fsync=off")

    def stop(self):
        self._run(BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop", check=False)

    def psql(self, sql, database="postgres"):
        """Runs SQL; returns the rows as lists of strings (None for NULL)."""
        r = self._run("psql", "-h", self.dir, "-p", self.port, "-U", USER, "-d", database, "-At", "-F", "\t",
                      "-P", "null=<NULL>", "-v", "ON_ERROR_STOP=1", "-c", sql)
        return [[None if v == "<NULL>" else v for v in line.split("\t")] for line in r.stdout.splitlines()]

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
