"""A private PgBouncer in transaction pooling mode in front of the shared PostgreSQL (the benchmark and the tests).

Debian's package (``apt-get install pgbouncer``, scripts/ensure_services.sh) is used as a plain program: its
system service is never started; each ``PgBouncer`` runs one in the foreground on a free loopback port.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Self

from sqlalchemy.engine import make_url

from bench.provision import PG_HOST, PG_PORT, free_port, poll, release_port

#: Debian installs it in /usr/sbin, which is not on every PATH.
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"

_INI = """\
[databases]
* = host={pg_host} port={pg_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {root}/users.txt
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = {max_clients}
"""


class PgBouncer:
    """PgBouncer with ``pool_mode = transaction`` and *pool_size* server connections per database and user."""

    def __init__(self, pool_size: int = 2, max_clients: int = 500) -> None:
        """Write the configuration in a new temporary directory; ``start()`` runs it."""
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="parley-pgbouncer-"))
        # PgBouncer refuses to run as root: it switches to postgres (-u), who must read this directory.
        self.root.chmod(0o755)
        (self.root / "users.txt").write_text('"postgres" ""\n')
        (self.root / "pgbouncer.ini").write_text(_INI.format(
            pg_host=PG_HOST, pg_port=PG_PORT, port=self.port, root=self.root, pool_size=pool_size,
            max_clients=max_clients))
        self.log_path = self.root / "pgbouncer.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15) -> Self:
        """Run PgBouncer in the foreground (its log goes to ``log_path``) and wait until it accepts connections."""
        cmd = [PGBOUNCER, *(["-u", "postgres"] if os.geteuid() == 0 else []), str(self.root / "pgbouncer.ini")]
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

        def listening() -> bool:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"pgbouncer exited with {self._proc.returncode}:\n{self.log()}")
            return "listening on 127.0.0.1" in self.log()

        try:
            poll(listening, timeout, interval=0.05, what="pgbouncer to listen")
        except BaseException:
            self.stop()
            raise
        return self

    def url(self, database_url: str) -> str:
        """Return *database_url* (on the shared PostgreSQL) through this PgBouncer."""
        return make_url(database_url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    def log(self) -> str:
        """Return what PgBouncer logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 10) -> None:
        """Terminate PgBouncer (kill it if it lingers), delete its directory and free its port (idempotent)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout)
        shutil.rmtree(self.root, ignore_errors=True)
        release_port(self.port)

    def __enter__(self) -> Self:
        """Start PgBouncer."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop PgBouncer."""
        self.stop()
