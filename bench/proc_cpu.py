"""CPU time of named process groups, read from /proc (Linux), for per-request CPU figures.

    meter = CpuMeter(services={"backend": [pid]}, infra=infra_groups())
    before = meter.sample()
    ...  # the measured work
    spent_ms = meter.since(before)        # {"backend": 812.0, "kafka": 95.5, ...}

A service's CPU includes every process in the session of its pids (worker processes, if any, are
not lost); infrastructure is counted by its own processes only.
"""

import os
from pathlib import Path

_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")

# Native infrastructure started by devstack, recognised by a part of its command line.
INFRA_MARKERS = {
    "redis": "redis-server",
    "kafka": "kafka.Kafka",
    "mongo (ferretdb)": "ferretdb-v",
    "weaviate": "weaviate-server",
}


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; everything after its closing parenthesis splits.
    return raw[raw.rindex(")") + 2 :].split()


def _cpu_ms(pid: int) -> float:
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of stat(5)
    return (utime + stime) * _TICK_MS


def _session(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[3]) if fields else None  # field 6 of stat(5)


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def find_pids(marker: str) -> list[int]:
    """Pids whose command line contains `marker`, this process excluded."""
    found = []
    for pid in _all_pids():
        if pid == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            found.append(pid)
    return found


class CpuMeter:
    def __init__(self, services: dict[str, list[int]], infra: dict[str, list[int]]):
        self.services = {name: pids for name, pids in services.items() if pids}
        self.infra = {name: pids for name, pids in infra.items() if pids}

    @staticmethod
    def _session_members(pids: list[int]) -> list[int]:
        sessions = {s for s in (_session(p) for p in pids) if s}
        return [p for p in _all_pids() if p in pids or _session(p) in sessions]

    def sample(self) -> dict[str, float]:
        """Cumulative CPU milliseconds per group (processes that exited since are not counted,
        so sample around work during which the groups' processes live)."""
        spent = {name: sum(map(_cpu_ms, self._session_members(p))) for name, p in self.services.items()}
        return spent | {name: sum(map(_cpu_ms, pids)) for name, pids in self.infra.items()}

    def since(self, before: dict[str, float]) -> dict[str, float]:
        now = self.sample()
        return {name: round(now[name] - before.get(name, 0.0), 1) for name in now}


def machine_busy_ms() -> float:
    """CPU milliseconds every process on the machine has spent (all cores), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle, iowait = fields[3], fields[4]
    return (sum(fields[:8]) - idle - iowait) * _TICK_MS


def infra_groups() -> dict[str, list[int]]:
    return {name: find_pids(marker) for name, marker in INFRA_MARKERS.items()}
