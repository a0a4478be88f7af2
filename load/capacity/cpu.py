"""CPU seconds per process from /proc, so the cost of a frame is attributed to who spent it."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from load.capacity.target import Process

TICKS_PER_S = os.sysconf("SC_CLK_TCK")
# /proc/PID/stat: fields after the parenthesised command; utime and stime are the 14th and 15th
# fields of the whole line, i.e. the 12th and 13th after the command.
UTIME_AFTER_COMM, STIME_AFTER_COMM = 11, 12


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads); None when it has gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[UTIME_AFTER_COMM]) + int(fields[STIME_AFTER_COMM])) / TICKS_PER_S


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # without guest times, already counted in user
    return (total - idle) / TICKS_PER_S, total / TICKS_PER_S


class CpuMeter:
    """CPU seconds per role between ``begin`` and ``end`` (a process restarted meanwhile counts
    from its start)."""

    def __init__(self) -> None:
        self.before: dict[int, tuple[str, float]] = {}
        self.machine_before = (0.0, 0.0)

    def begin(self, processes: Iterable[Process]) -> None:
        self.before = {p.pid: (p.role, s) for p in processes if (s := cpu_seconds(p.pid)) is not None}
        self.machine_before = machine_busy_seconds()

    def end(self, processes: Iterable[Process]) -> tuple[dict[str, float], float]:
        """CPU seconds per role, and the machine's busy share (0-1 of all its cores)."""
        spent: dict[str, float] = defaultdict(float)
        for process in processes:
            now = cpu_seconds(process.pid)
            if now is None:
                continue
            _, then = self.before.get(process.pid, (process.role, 0.0))
            spent[process.role] += max(0.0, now - then)
        busy, total = machine_busy_seconds()
        elapsed = total - self.machine_before[1]
        share = (busy - self.machine_before[0]) / elapsed if elapsed > 0 else 0.0
        return dict(spent), share
