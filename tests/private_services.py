"""Private RabbitMQ nodes and PostgreSQL clusters that fault-injection tests may stop, kill, pause and block.

The shared services (RabbitMQ on 127.0.0.1:5672, PostgreSQL on 127.0.0.1:5432) must never be disturbed, so
each object here owns a throw-away server on free loopback ports with its data in a temporary directory.
A test asks for the fixtures ``private_rabbit`` and ``private_postgres`` (one started server per test module,
from ``tests/conftest.py``)::

    def test_something(private_rabbit: PrivateRabbit) -> None:
        private_rabbit.pause()
        ...

Everything is torn down by ``close()``, at the end of the fixture's module, or at interpreter exit; leftovers
of a run that was SIGKILLed are reaped when the next object is created.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import pika
import pika.exceptions
import psycopg2
from pika.adapters.utils.connection_workflow import AMQPConnectorException

from tests.support import free_port, release_port

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
TMP_PREFIX = "parley-private-"
_reaped = False


# --------------------------------------------------------------------------------------------------------------
# small process and port helpers
# --------------------------------------------------------------------------------------------------------------


def port_open(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """Return whether a TCP connection to host:port is accepted."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """Return (state, ppid, pgid) of *pid* from /proc, or None if it does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2])


def _alive(pid: int) -> bool:
    """Return whether *pid* exists and is not a zombie."""
    stat = _proc_stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def _all_pids() -> Iterator[int]:
    """Yield the pid of every process."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def _children(pid: int) -> list[int]:
    """Return the live direct children of *pid*."""
    return [p for p in _all_pids() if (s := _proc_stat(p)) is not None and s[1] == pid and s[0] not in "ZX"]


def _group(pgid: int) -> list[int]:
    """Return the live members of process group *pgid*."""
    return [p for p in _all_pids() if (s := _proc_stat(p)) is not None and s[2] == pgid and s[0] not in "ZX"]


def _comm(pid: int) -> str:
    """Return the command name of *pid* ('' if gone)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _signal(pid: int, sig: int) -> None:
    """Send *sig* to *pid*, ignoring a process that is already gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(pids: list[int], timeout: float) -> bool:
    """Wait until none of *pids* is alive; return whether that happened in time."""
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _user_exists(name: str) -> bool:
    """Return whether the system account *name* exists."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _as_user(user: str | None, argv: list[str]) -> list[str]:
    """Prefix *argv* with runuser when running as root and *user* is given."""
    if user is None:
        return argv
    return ["runuser", "-u", user, "--", *argv]


def _chown_tree(root: Path, user: str | None) -> None:
    """Give *root* and everything below it to *user* (no-op without a user)."""
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for dirpath, dirnames, filenames in os.walk(root):
        os.chown(dirpath, entry.pw_uid, entry.pw_gid)
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def _tail(path: Path, lines: int = 30) -> str:
    """Return the last *lines* lines of a text file ('' if missing)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _remove_orphan_shm(data_dir: Path) -> None:
    """Remove the SysV shared memory segment a dead postmaster of *data_dir* left behind (if unattached)."""
    try:
        key, shmid = (int(v) for v in (data_dir / "postmaster.pid").read_text().splitlines()[6].split())
        table = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    except (OSError, IndexError, ValueError):
        return
    for line in table:
        fields = line.split()  # key shmid perms size cpid lpid nattch ...
        if int(fields[0]) == key and int(fields[1]) == shmid and int(fields[6]) == 0:
            subprocess.run(["ipcrm", "-m", str(shmid)], capture_output=True, check=False)


def _owned_by_root(pid: int, root: str) -> bool:
    """Return whether *pid* was started for the private service in directory *root* (see PARLEY_PRIVATE_ROOT)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"PARLEY_PRIVATE_ROOT={root}".encode() in environ.split(b"\0")


def epmd_names(port: int = 4369) -> dict[str, int]:
    """Return the node names registered with epmd and their distribution ports ({} if epmd is down)."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=2) as sock:
            sock.sendall(b"\x00\x01n")  # NAMES_REQ
            chunks = []
            while chunk := sock.recv(4096):
                chunks.append(chunk)
    except OSError:
        return {}
    names: dict[str, int] = {}
    for line in b"".join(chunks)[4:].decode(errors="replace").splitlines():
        parts = line.split()  # "name NAME at port PORT"
        if len(parts) == 5 and parts[0] == "name":
            names[parts[1]] = int(parts[4])
    return names


def reap_stale() -> None:
    """Kill and remove private servers left behind by test runs whose process no longer exists."""
    for root in glob.glob(os.path.join(tempfile.gettempdir(), TMP_PREFIX + "*")):
        owner_file = Path(root) / "owner.pid"
        try:
            owner = int(owner_file.read_text())
        except (OSError, ValueError):
            continue
        if owner == os.getpid() or _alive(owner):
            continue
        log.warning("reaping private services left by dead process %s in %s", owner, root)
        victims = [p for p in _all_pids() if p != os.getpid() and _owned_by_root(p, root)]
        for pid in victims:
            _signal(pid, signal.SIGCONT)
            _signal(pid, signal.SIGKILL)
        _wait_gone(victims, 10)
        _remove_orphan_shm(Path(root) / "data")
        shutil.rmtree(root, ignore_errors=True)


def _reap_once() -> None:
    """Run reap_stale the first time a private service is created in this process."""
    global _reaped
    if not _reaped:
        _reaped = True
        try:
            reap_stale()
        except Exception:  # reaping is best effort; never fail a test run on it
            log.exception("reaping stale private services failed")


def _make_root(kind: str, base_dir: str | None) -> Path:
    """Create the temporary directory of one private service and record its owner."""
    root = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{kind}-", dir=base_dir))
    root.chmod(0o755)
    (root / "owner.pid").write_text(str(os.getpid()))
    return root


class _PrivateServer:
    """What PrivateRabbit and PrivatePostgres share: ``close()`` (also run at exit) and ``with``."""

    root: Path
    _port: int

    def _track(self) -> None:
        """Begin with no process running; close at interpreter exit unless closed before."""
        self._proc: subprocess.Popen[bytes] | None = None
        self._closed = False
        self.last_start_seconds: float | None = None
        atexit.register(self.close)

    @property
    def port(self) -> int:
        """The port clients connect to."""
        return self._port

    def start(self, timeout: float | None = None) -> float:
        """Start the server; return the seconds it took."""
        raise NotImplementedError

    def kill(self) -> None:
        """Crash the server."""
        raise NotImplementedError

    def _stop_for_good(self) -> None:
        """Stop the server as ``close()`` wants it stopped."""
        raise NotImplementedError

    def _ports(self) -> tuple[int, ...]:
        """Return the ports the server listens on."""
        raise NotImplementedError

    def _after_stop(self) -> None:
        """Remove what a stopped or killed server leaves outside its directory (nothing by default)."""

    def close(self) -> None:
        """Stop the server (kill it if that fails), delete its directory, free its ports (idempotent)."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        try:
            self._stop_for_good()
        except Exception:
            log.exception("stopping %r failed; killing it", self)
            self.kill()
        self._after_stop()
        shutil.rmtree(self.root, ignore_errors=True)
        release_port(*self._ports())

    def __enter__(self) -> Self:
        """Start the server."""
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the server."""
        self.close()


# --------------------------------------------------------------------------------------------------------------
# RabbitMQ
# --------------------------------------------------------------------------------------------------------------


def _rabbit_sbin() -> Path:
    """Return the directory of the real rabbitmq-server/rabbitmqctl scripts (not Debian's /usr/sbin wrappers)."""
    # /usr/sbin/rabbitmq-server is a wrapper that redirects output to /var/log/rabbitmq/startup_log, the shared
    # node's file, and su's to rabbitmq dropping our environment: use the scripts it wraps.
    override = os.environ.get("PRIVATE_RABBIT_SBIN")
    if override:
        return Path(override)
    debian = Path("/usr/lib/rabbitmq/bin")
    if (debian / "rabbitmq-server").exists():
        return debian
    found = shutil.which("rabbitmq-server")
    if not found:
        raise RuntimeError("rabbitmq-server is not installed")
    return Path(found).resolve().parent


class PrivateRabbit(_PrivateServer):
    """A private RabbitMQ node on free loopback ports that a test may stop, kill, pause and block."""

    def __init__(self, *, port: int | None = None, dist_port: int | None = None, base_dir: str | None = None,
                 start_timeout: float = 60.0) -> None:
        """Prepare (but do not start) a node with its own data directory."""
        _reap_once()
        self._port = port or free_port()
        self.dist_port = dist_port or free_port(exclude={self._port})
        self.node = f"parley-{self._port}@localhost"
        self.start_timeout = start_timeout
        self.sbin = _rabbit_sbin()
        # As root the scripts would be run as the rabbitmq user anyway; doing it ourselves lets the node use
        # rabbitmq's own Erlang cookie (HOME=/var/lib/rabbitmq), so a plain `rabbitmqctl -n NODE` works too.
        self.run_as = "rabbitmq" if os.geteuid() == 0 and _user_exists("rabbitmq") else None
        self.home = pwd.getpwnam(self.run_as).pw_dir if self.run_as else os.environ.get("HOME", "/")
        self.root = _make_root("rabbit", base_dir)
        self.mnesia_base = self.root / "mnesia"
        self.log_base = self.root / "log"
        self.output = self.root / "server.out"
        self.pid_file = self.root / "beam.pid"
        (self.root / "enabled_plugins").write_text("[].\n")
        (self.root / "rabbitmq-env.conf").write_text("")  # shadows /etc/rabbitmq/rabbitmq-env.conf (NODENAME)
        (self.root / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = {LOOPBACK}:{self._port}\n"
            "loopback_users.guest = true\n"
            "vm_memory_high_watermark.relative = 0.4\n"
            "disk_free_limit.absolute = 1MB\n"
            "log.file.level = info\n"
            "log.console = false\n"
        )
        self.mnesia_base.mkdir()
        self.log_base.mkdir()
        _chown_tree(self.root, self.run_as)
        self._beam: int | None = None
        self._paused = False
        self._blocked = False
        self._track()

    # -- properties -----------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The AMQP URL of the default vhost as guest."""
        return f"amqp://guest:guest@{LOOPBACK}:{self._port}/"

    @property
    def beam_pid(self) -> int | None:
        """The pid of the node's Erlang VM while it runs."""
        return self._beam if self._beam and _alive(self._beam) else None

    def is_running(self) -> bool:
        """Return whether the node's VM process is alive (it may be paused)."""
        return self._proc is not None and self._proc.poll() is None and self.beam_pid is not None

    def _env(self) -> dict[str, str]:
        """Return the clean environment for the server and CLI scripts."""
        root = str(self.root)
        return {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": self.home,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": LOOPBACK,
            "RABBITMQ_NODE_PORT": str(self._port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.mnesia_base),
            "RABBITMQ_LOG_BASE": str(self.log_base),
            "RABBITMQ_CONFIG_FILE": f"{root}/rabbitmq.conf",
            "RABBITMQ_ADVANCED_CONFIG_FILE": f"{root}/advanced.config",
            "RABBITMQ_CONF_ENV_FILE": f"{root}/rabbitmq-env.conf",
            "RABBITMQ_ENABLED_PLUGINS_FILE": f"{root}/enabled_plugins",
            "RABBITMQ_PID_FILE": str(self.pid_file),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_CRASH_DUMP": f"{root}/erl_crash.dump",
            "ERL_EPMD_ADDRESS": LOOPBACK,
            # reap_stale() recognises our processes by this variable
            "PARLEY_PRIVATE_ROOT": root,
        }

    def connection_parameters(self, **overrides: Any) -> pika.ConnectionParameters:
        """Return pika parameters for this node (guest/guest, one attempt), with *overrides* applied."""
        options: dict[str, Any] = {
            "host": LOOPBACK,
            "port": self._port,
            "credentials": pika.PlainCredentials("guest", "guest"),
            "connection_attempts": 1,
            "retry_delay": 0,
            "socket_timeout": 5,
            "stack_timeout": 10,
        }
        options.update(overrides)
        return pika.ConnectionParameters(**options)

    def connect(self, **overrides: Any) -> pika.BlockingConnection:
        """Open a blocking pika connection to this node."""
        return pika.BlockingConnection(self.connection_parameters(**overrides))

    # -- lifecycle ------------------------------------------------------------------------------------------

    def start(self, timeout: float | None = None) -> float:
        """Start the node (keeping its data) and wait until guest can log in; return the seconds it took."""
        if self._closed:
            raise RuntimeError("this PrivateRabbit is closed")
        if self.is_running():
            return 0.0
        timeout = timeout or self.start_timeout
        began = time.monotonic()
        deadline = began + timeout
        self._kill_group()  # leftovers of a node whose VM died
        # A killed node's name may linger in epmd for a moment; a second node of that name would refuse to boot.
        while self.node.split("@")[0] in epmd_names() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        argv = _as_user(self.run_as, [str(self.sbin / "rabbitmq-server")])
        with open(self.output, "ab") as out:
            self._proc = subprocess.Popen(argv, env=self._env(), cwd=self.root, stdin=subprocess.DEVNULL,
                                          stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self._paused = False
        self._blocked = False
        try:
            self._wait_ready(deadline)
        except BaseException:
            self._kill_group()
            raise
        self.last_start_seconds = time.monotonic() - began
        log.info("private RabbitMQ %s up on port %s in %.1f s", self.node, self._port, self.last_start_seconds)
        return self.last_start_seconds

    def _wait_ready(self, deadline: float) -> None:
        """Wait until the AMQP listener accepts a guest login, failing early if the node died."""
        assert self._proc is not None
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"RabbitMQ node {self.node} exited with {self._proc.returncode} while "
                                   f"starting:\n{_tail(self.output)}\n{_tail(self.log_base / (self.node + '.log'))}")
            if port_open(self._port, timeout=0.2):
                try:
                    self.connect(socket_timeout=2, stack_timeout=4).close()
                except (pika.exceptions.AMQPError, AMQPConnectorException):  # the latter: handshake timeout
                    pass
                else:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"RabbitMQ node {self.node} not ready in time:\n{_tail(self.output)}")
            time.sleep(0.05)
        self._beam = self._find_beam()

    def _find_beam(self) -> int | None:
        """Return the pid of the node's beam.smp process."""
        if self._proc is not None:
            for pid in _group(self._proc.pid):
                if _comm(pid).startswith("beam"):
                    return pid
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.pid_file.read_text().strip())
            if _alive(pid):
                return pid
        return None

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the node cleanly with `rabbitmqctl stop`, killing its processes if that does not work."""
        if self._proc is None or self._proc.poll() is not None:
            self._reset()
            return
        self.resume()
        began = time.monotonic()
        if self.beam_pid is not None:
            try:
                self.rabbitmqctl("stop", timeout=timeout)
                self._proc.wait(timeout=max(1.0, timeout - (time.monotonic() - began)))
            except (subprocess.SubprocessError, RuntimeError) as exc:
                log.warning("clean stop of %s failed (%s); killing it", self.node, exc)
        self._kill_group()
        log.info("private RabbitMQ %s stopped in %.1f s", self.node, time.monotonic() - began)

    def kill(self) -> None:
        """Crash the node: SIGKILL its Erlang VM (no clean shutdown), then reap the wrapper processes."""
        beam = self.beam_pid
        if beam is not None:
            _signal(beam, signal.SIGKILL)
            _wait_gone([beam], 10)
        self._kill_group()
        log.info("private RabbitMQ %s killed", self.node)

    def _kill_group(self) -> None:
        """SIGKILL every process of the node's session and wait for them to go."""
        if self._proc is not None:
            members = _group(self._proc.pid)
            if self._beam is not None and _alive(self._beam):
                members.append(self._beam)
            for pid in members:
                _signal(pid, signal.SIGCONT)
                _signal(pid, signal.SIGKILL)
            _wait_gone(members, 10)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=10)
        self._reset()

    def _reset(self) -> None:
        """Forget the runtime state of a node that is no longer running."""
        self._beam = None
        self._paused = False
        self._blocked = False

    def restart(self, timeout: float | None = None) -> float:
        """Stop the node if it runs and start it again on the same data; return the start seconds."""
        self.stop()
        return self.start(timeout)

    def ensure_running(self) -> None:
        """Undo pause and block, and start the node if it is down: a clean slate for the next test."""
        if self.is_running():
            self.resume()
            if self._blocked:
                self.unblock_publishers()
        else:
            self._kill_group()
            self.start()

    def pause(self) -> None:
        """SIGSTOP the Erlang VM: connections hang like a black-holed broker (TCP handshakes still complete)."""
        beam = self.beam_pid
        if beam is None:
            raise RuntimeError(f"RabbitMQ node {self.node} is not running")
        _signal(beam, signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """SIGCONT the Erlang VM after pause()."""
        beam = self.beam_pid
        if beam is not None and self._paused:
            _signal(beam, signal.SIGCONT)
        self._paused = False

    # -- flow control ---------------------------------------------------------------------------------------

    def _memory_alarm(self) -> bool:
        """Return whether the node has a memory alarm in effect."""
        out = self.rabbitmqctl("eval", "rabbit_alarm:get_alarms().", timeout=30)
        return "memory" in out

    def _wait_alarm(self, wanted: bool, timeout: float = 15.0) -> None:
        """Wait until the memory alarm is (or is not) in effect."""
        deadline = time.monotonic() + timeout
        while self._memory_alarm() != wanted:
            if time.monotonic() > deadline:
                raise TimeoutError(f"memory alarm of {self.node} did not become {wanted}")
            time.sleep(0.1)

    def block_publishers(self) -> None:
        """Raise a memory alarm (watermark 0): publishing connections get connection.blocked and stall."""
        self.rabbitmqctl("set_vm_memory_high_watermark", "0")
        self._wait_alarm(True)
        self._blocked = True

    def unblock_publishers(self) -> None:
        """Restore the 0.4 memory watermark and wait for the alarm to clear."""
        self.rabbitmqctl("set_vm_memory_high_watermark", "0.4")
        self._wait_alarm(False)
        self._blocked = False

    # -- CLI ------------------------------------------------------------------------------------------------

    def rabbitmqctl(self, *args: str, timeout: float = 60.0, check: bool = True) -> str:
        """Run `rabbitmqctl -n NODE ARGS...` against this node and return its standard output."""
        argv = _as_user(self.run_as, [str(self.sbin / "rabbitmqctl"), "-n", self.node, *args])
        env = {key: value for key, value in self._env().items() if not key.startswith("RABBITMQ_")}
        result = subprocess.run(argv, env=env, cwd=self.root, stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed ({result.returncode}): "
                               f"{result.stdout.strip()} {result.stderr.strip()}")
        return result.stdout

    def queue_depth(self, queue: str, vhost: str = "/") -> int:
        """Return the messages (ready + unacknowledged) in *queue*; KeyError if it does not exist."""
        out = self.rabbitmqctl("list_queues", "-p", vhost, "--silent", "name", "messages", timeout=30)
        for line in out.splitlines():
            name, _, count = line.rpartition("\t")
            if name == queue:
                return int(count)
        raise KeyError(queue)

    # -- teardown -------------------------------------------------------------------------------------------

    def _stop_for_good(self) -> None:
        """Stop the node cleanly."""
        self.stop(timeout=20)

    def _ports(self) -> tuple[int, ...]:
        """The AMQP and the distribution port."""
        return self._port, self.dist_port

    def __repr__(self) -> str:
        """Describe the node."""
        return f"<PrivateRabbit {self.node} amqp={self._port} dist={self.dist_port} root={self.root}>"


# --------------------------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------------------------


def _pg_bindir() -> Path:
    """Return the directory holding initdb and pg_ctl (newest /usr/lib/postgresql/N/bin, or $PATH)."""
    override = os.environ.get("PRIVATE_PG_BINDIR")
    if override:
        return Path(override)
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0)
    if candidates:
        return candidates[-1].parent
    found = shutil.which("pg_ctl")
    if not found:
        raise RuntimeError("PostgreSQL server binaries (pg_ctl, initdb) are not installed")
    return Path(found).resolve().parent


class PrivatePostgres(_PrivateServer):
    """A private PostgreSQL cluster on a free loopback port that a test may stop, kill and restart."""

    def __init__(self, *, port: int | None = None, base_dir: str | None = None, synchronous_commit: bool = True,
                 start_timeout: float = 60.0) -> None:
        """Prepare (but do not initialise or start) a cluster in its own temporary directory."""
        _reap_once()
        self._port = port or free_port()
        self.bindir = _pg_bindir()
        self.start_timeout = start_timeout
        # Commits that were acknowledged must survive kill(): with fsync=off that costs only a write() per commit.
        self.synchronous_commit = synchronous_commit
        self.run_as = "postgres" if os.geteuid() == 0 and _user_exists("postgres") else None
        self.root = _make_root("pg", base_dir)
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.logfile = self.root / "postgres.log"
        self.socket_dir.mkdir()
        _chown_tree(self.root, self.run_as)
        self._track()

    def url(self, name: str = "postgres") -> str:
        """Return the SQLAlchemy URL of database *name*."""
        return f"postgresql+psycopg2://postgres@{LOOPBACK}:{self._port}/{name}"

    def connect(self, dbname: str = "postgres", **kwargs: Any) -> Any:
        """Open a psycopg2 connection to database *dbname* over TCP."""
        kwargs.setdefault("connect_timeout", 5)
        return psycopg2.connect(host=LOOPBACK, port=self._port, user="postgres", dbname=dbname, **kwargs)

    def _env(self) -> dict[str, str]:
        """Return the clean environment for the server and its tools."""
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
                "PGDATA": str(self.data), "PARLEY_PRIVATE_ROOT": str(self.root)}

    def _run(self, argv: list[str], timeout: float) -> str:
        """Run a PostgreSQL tool as the cluster's owner and return its output; raise on failure."""
        result = subprocess.run(_as_user(self.run_as, argv), env=self._env(), cwd=self.root, stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=timeout, start_new_session=True)
        if result.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} failed ({result.returncode}): {result.stdout.strip()} "
                               f"{result.stderr.strip()}\n{_tail(self.logfile)}")
        return result.stdout

    def _initdb(self) -> None:
        """Create the cluster with trust authentication and settings tuned for throw-away speed."""
        self._run([str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                   "--locale=C", "--no-sync"], timeout=120)
        settings = {
            "listen_addresses": f"'{LOOPBACK}'",
            "port": str(self._port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "fsync": "off",
            "synchronous_commit": "on" if self.synchronous_commit else "off",
            "full_page_writes": "off",
            "max_connections": "100",
            "shared_buffers": "32MB",
            "log_min_messages": "warning",
        }
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\n# parley private cluster\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _postmaster_pid(self) -> int | None:
        """Return the postmaster pid recorded in postmaster.pid if that process is alive."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) and _comm(pid).startswith("postgres") else None

    def is_running(self) -> bool:
        """Return whether the postmaster is alive."""
        return self._postmaster_pid() is not None

    def start(self, timeout: float | None = None) -> float:
        """Start the cluster (initdb first if needed) and wait until it accepts connections; return seconds."""
        if self._closed:
            raise RuntimeError("this PrivatePostgres is closed")
        if self.is_running():
            return 0.0
        timeout = timeout or self.start_timeout
        began = time.monotonic()
        deadline = began + timeout
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        self._reap()
        # The postmaster runs as our (grand)child rather than being daemonised by pg_ctl: when it is killed it
        # is reaped at once. An orphan would stay a zombie until init reaps it (1-2 s in this sandbox), and
        # while its pid exists a new postmaster refuses to start ("lock file postmaster.pid already exists").
        argv = _as_user(self.run_as, [str(self.bindir / "postgres"), "-D", str(self.data)])
        with open(self.logfile, "ab") as out:
            self._proc = subprocess.Popen(argv, env=self._env(), cwd=self.root, stdin=subprocess.DEVNULL,
                                          stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited with {self._proc.returncode} while starting:\n"
                                   f"{_tail(self.logfile)}")
            try:
                self.connect(connect_timeout=2).close()
                break
            except psycopg2.OperationalError:  # not listening yet, or still in (crash) recovery
                if time.monotonic() > deadline:
                    self.kill()
                    raise TimeoutError(f"PostgreSQL not ready in {timeout} s:\n{_tail(self.logfile)}") from None
                time.sleep(0.05)
        self.last_start_seconds = time.monotonic() - began
        log.info("private PostgreSQL up on port %s in %.1f s", self._port, self.last_start_seconds)
        return self.last_start_seconds

    def _reap(self, timeout: float = 10.0) -> None:
        """Wait for the process that ran the postmaster to exit, collecting its status."""
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=timeout)
            if self._proc.poll() is None:
                log.warning("PostgreSQL launcher %s did not exit", self._proc.pid)
            self._proc = None

    def stop(self, mode: str = "fast", timeout: float = 30.0) -> None:
        """Stop the cluster with `pg_ctl stop -m MODE`, killing it if that fails."""
        if self.is_running():
            try:
                self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w",
                           "-t", str(int(timeout)), "-s", "stop"], timeout=timeout + 10)
            except (RuntimeError, subprocess.SubprocessError) as exc:
                log.warning("pg_ctl stop failed (%s); killing the cluster", exc)
                self.kill()
        self._reap()

    def kill(self) -> None:
        """Crash the cluster: SIGKILL the postmaster and its children; the next start does crash recovery."""
        pid = self._postmaster_pid()
        if pid is not None:
            victims = [pid, *_children(pid)]
            for victim in victims:
                _signal(victim, signal.SIGKILL)
            # Backends that outlived the postmaster would keep its shared memory attached and block a restart.
            if not _wait_gone(victims, 10):
                raise RuntimeError(f"PostgreSQL processes {victims} survived SIGKILL")
            log.info("private PostgreSQL on port %s killed", self._port)
        self._reap()

    def restart(self, mode: str = "fast", timeout: float | None = None) -> float:
        """Stop the cluster if it runs and start it again on the same data; return the start seconds."""
        self.stop(mode)
        return self.start(timeout)

    def ensure_running(self) -> None:
        """Start the cluster if it is down."""
        if not self.is_running():
            self.start()

    def create_database(self, name: str) -> str:
        """Create database *name* and return its SQLAlchemy URL."""
        connection = self.connect()
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return self.url(name)

    def _stop_for_good(self) -> None:
        """Stop the cluster without a checkpoint: its data is thrown away."""
        self.stop(mode="immediate", timeout=20)

    def _ports(self) -> tuple[int, ...]:
        """The TCP port."""
        return (self._port,)

    def _after_stop(self) -> None:
        """Remove the shared memory segment a killed cluster that was never restarted leaves behind."""
        _remove_orphan_shm(self.data)

    def __repr__(self) -> str:
        """Describe the cluster."""
        return f"<PrivatePostgres port={self._port} root={self.root}>"
