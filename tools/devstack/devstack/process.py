"""Start detached processes and stop exactly those: pid files plus a /proc identity check.

A pid file records the pid and the process start time (field 22 of /proc/<pid>/stat). A pid is
only ours while a process with that pid has that start time, so a reused pid is never signalled.
Every process runs in its own session (start_new_session), which makes it survive the CLI and lets
`stop` reach the children it spawned (npm -> node) through the session id.
"""

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PidRecord:
    name: str
    pid: int
    start_time: int
    argv: list[str]


def proc_start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie has exited already
        return None
    return int(fields[19])


def _proc_session(pid: int) -> tuple[int, int] | None:
    """(session id, start time) of a live process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return int(fields[3]), int(fields[19])


def is_alive(record: PidRecord) -> bool:
    return proc_start_time(record.pid) == record.start_time


def session_members(record: PidRecord) -> list[int]:
    """Live processes of the session this record's process leads (itself included)."""
    leader_start = proc_start_time(record.pid)
    if leader_start is not None and leader_start != record.start_time:
        return []  # the pid now belongs to another process, and so does its session
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        info = _proc_session(int(entry.name))
        if info and info[0] == record.pid and info[1] >= record.start_time:
            members.append(int(entry.name))
    return members


class PidFiles:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def path(self, name: str) -> Path:
        return self.run_dir / f"{name}.json"

    def write(self, record: PidRecord) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path(record.name).with_suffix(".tmp")
        tmp.write_text(json.dumps(record.__dict__))
        tmp.replace(self.path(record.name))

    def read(self, name: str) -> PidRecord | None:
        try:
            return PidRecord(**json.loads(self.path(name).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def remove(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)

    def running(self, name: str) -> PidRecord | None:
        record = self.read(name)
        if record is not None and (is_alive(record) or session_members(record)):
            return record
        return None


def spawn(
    name: str, argv: list[str], *, cwd: Path, env: dict[str, str], log_file: Path, pid_files: PidFiles
) -> PidRecord:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        log.write(f"\n=== devstack {stamp}: {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    start_time = None
    for _ in range(50):
        start_time = proc_start_time(proc.pid)
        if start_time is not None or proc.poll() is not None:
            break
        time.sleep(0.01)
    record = PidRecord(name=name, pid=proc.pid, start_time=start_time or 0, argv=argv)
    pid_files.write(record)
    return record


def terminate(record: PidRecord, grace_s: float = 20.0) -> bool:
    """SIGTERM the process's session, SIGKILL whatever is left after the grace period.

    Returns True when something was running.
    """
    members = session_members(record)
    if not members:
        return False
    _signal_all(members, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        _reap(members)
        members = session_members(record)
        if not members:
            return True
        time.sleep(0.1)
    _signal_all(members, signal.SIGKILL)
    for _ in range(50):
        _reap(members)
        if not session_members(record):
            break
        time.sleep(0.1)
    return True


def stop_child(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM a child this process started, SIGKILL it after the grace period; reaps it."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _reap(pids: list[int]) -> None:
    """Collect exit statuses of our own children (when started in this process), so no zombies stay."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
