"""Test sessions share the native stack: each holds a lease while it runs, and infrastructure a test
session started is stopped by the last session to leave (one state dir, i.e. one ALICE_DEVSTACK_DIR)."""

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from devstack import process


class NativeLease:
    """A lease is a file named after the session's pid holding the pid's start time, so a crashed
    session's lease (its pid gone or reused) is recognised and ignored. `started.json` lists what the
    sessions started; the last one out stops exactly that, never infrastructure someone else runs."""

    def __init__(self, stack, pid: int | None = None) -> None:
        self.stack = stack
        self.pid = pid or os.getpid()
        self.dir = Path(stack.cfg.state_dir) / "testing"
        self.lease = self.dir / "leases" / f"{self.pid}.json"
        self.started_file = self.dir / "started.json"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.lease.parent.mkdir(parents=True, exist_ok=True)
        with (self.dir / "lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def __enter__(self) -> "NativeLease":
        with self._locked():
            start_time = process.proc_start_time(self.pid)
            self.lease.write_text(json.dumps({"pid": self.pid, "start_time": start_time}))
            comps = self.stack.select(infra_only=True)
            missing = [c for c in comps if self.stack.status(c).state not in ("up", "external")]
            if missing:
                started = self.stack.start(missing)
                self._write_started(sorted(set(self._read_started()) | set(started)))
        return self

    def __exit__(self, *exc) -> None:
        with self._locked():
            self.lease.unlink(missing_ok=True)
            if self.other_live_leases():
                return
            started = self._read_started()
            if started:
                self.stack.stop(self.stack.select(started))
            self.started_file.unlink(missing_ok=True)

    def _read_started(self) -> list[str]:
        try:
            return json.loads(self.started_file.read_text())
        except (OSError, ValueError):
            return []

    def _write_started(self, names: list[str]) -> None:
        self.started_file.write_text(json.dumps(names))

    def other_live_leases(self) -> bool:
        """Whether another session still holds a lease; removes the leases of sessions that are gone."""
        live = False
        for path in self.lease.parent.glob("*.json"):
            if path == self.lease:
                continue
            try:
                lease = json.loads(path.read_text())
                alive = process.proc_start_time(lease["pid"]) == lease["start_time"]
            except (OSError, ValueError, KeyError, TypeError):
                alive = False
            if alive:
                live = True
            else:
                path.unlink(missing_ok=True)  # a crashed session's lease
        return live
