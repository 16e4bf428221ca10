"""Where the CPU goes during a measurement: CPU seconds per process group from /proc, per request or message.

Groups: each process started for the run (and its children) under its own name, the PostgreSQL backends of
the run's database, RabbitMQ (every ``beam.smp`` on the machine), this process (the load generator), and
"other processes" — the rest of the machine, i.e. the noise from whatever else runs at the same time.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Any

from bench.services import Stack, children

HZ = os.sysconf("SC_CLK_TCK")


def _stat(pid: str) -> tuple[str, int] | None:
    """Return (command name, user+system ticks) of *pid*, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except OSError:
        return None
    comm = stat[stat.index("(") + 1: stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()
    return comm, int(fields[11]) + int(fields[12])


def _descendants(pid: int) -> set[int]:
    """Return *pid* and all its descendants."""
    found, todo = {pid}, [pid]
    while todo:
        for child in children(todo.pop()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


class CpuMeter:
    """Snapshots of every process's CPU time, grouped for one private stack."""

    def __init__(self, stack: Stack) -> None:
        """Measure for *stack* (its processes are grouped by name)."""
        self.stack = stack
        self.me = os.getpid()

    def _groups(self) -> dict[int, str]:
        """Map the pids of the run's own processes to their names."""
        owned: dict[int, str] = {}
        for proc in self.stack.procs:
            for pid in _descendants(proc.pid):
                owned[pid] = proc.name
        return owned

    def _cmd(self, pid: str) -> str:
        """Return the command line of *pid* (empty when unreadable)."""
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                return handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return ""

    def snapshot(self) -> tuple[float, Counter[str]]:
        """Return (wall time, CPU ticks per group) now."""
        owned = self._groups()
        ticks: Counter[str] = Counter()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            stat = _stat(entry)
            if stat is None:
                continue
            comm, used = stat
            pid = int(entry)
            if pid in owned:
                group = owned[pid]
            elif pid == self.me:
                group = "bench (load generator)"
            elif comm.startswith("postgres"):
                group = "postgresql (run's database)" if self.stack.name in self._cmd(entry) else "other processes"
            elif comm.startswith("beam"):
                group = "rabbitmq"
            else:
                group = "other processes"
            ticks[group] += used
        return time.monotonic(), ticks

    @staticmethod
    def diff(start: tuple[float, Counter[str]], end: tuple[float, Counter[str]]) -> tuple[float, Counter[str]]:
        """Return (seconds, ticks per group) between two snapshots (a process that exited counts 0)."""
        ticks: Counter[str] = Counter()
        for group in set(end[1]) | set(start[1]):
            ticks[group] = max(0, end[1][group] - start[1][group])
        return end[0] - start[0], ticks


def summarize(seconds: float, ticks: Counter[str], items: int) -> dict[str, Any]:
    """Return cores used and CPU ms per item (request, message) for each group."""
    groups = {}
    for group, used_ticks in sorted(ticks.items(), key=lambda kv: -kv[1]):
        used = used_ticks / HZ
        if used > 0:
            groups[group] = {"cores": round(used / seconds, 2), "ms_per_item": round(used / max(items, 1) * 1000, 3)}
    return {"seconds": round(seconds, 2), "items": items, "groups": groups}


class Window:
    """CPU between the moments a count first reaches 10 % and 90 % of *total* (the drains' steady window)."""

    def __init__(self, meter: CpuMeter | None, total: int, lo: float = 0.10, hi: float = 0.90) -> None:
        """Watch a count that goes to *total*; no-op without a *meter*."""
        self.meter, self.total, self.lo, self.hi = meter, total, lo, hi
        self.start: tuple[tuple[float, Counter[str]], int] | None = None
        self.end: tuple[tuple[float, Counter[str]], int] | None = None

    def see(self, done: int) -> None:
        """Take a snapshot when *done* crosses the window's edges."""
        if self.meter is None:
            return
        if self.start is None and done >= self.lo * self.total:
            self.start = (self.meter.snapshot(), done)
        elif self.start is not None and self.end is None and done >= self.hi * self.total:
            self.end = (self.meter.snapshot(), done)

    def result(self) -> dict[str, Any] | None:
        """Return the summary of the window (None when it was never closed)."""
        if self.start is None or self.end is None or self.end[1] <= self.start[1]:
            return None
        seconds, ticks = CpuMeter.diff(self.start[0], self.end[0])
        return summarize(seconds, ticks, self.end[1] - self.start[1])
