"""Start, wait for, inspect and stop components; shared by the CLI and the test harness."""

import contextlib
import fcntl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from devstack import health, process, provision
from devstack.components import Component, components
from devstack.config import Config

# Components start batch by batch (each batch waits for the one before to be healthy).
# "model" (the inference service) starts beside the infrastructure but is not part of `--infra`:
# the tests' shared stack does not need it (they start a private one, tests/inference.py).
BATCHES = (("infra", "model"), ("service", "frontend"))
GROUP_ORDER = ("infra", "model", "service", "frontend")


class StackError(RuntimeError):
    pass


@dataclass(frozen=True)
class Status:
    component: Component
    state: str  # "up" | "starting" | "down" | "external"
    pid: int | None


class Stack:
    def __init__(self, cfg: Config | None = None) -> None:
        self.cfg = cfg or Config()
        self.pid_files = process.PidFiles(self.cfg.run_dir)
        self.components = components(self.cfg)

    def select(self, names: list[str] | None = None, *, infra_only: bool = False) -> list[Component]:
        known = {c.name: c for c in self.components}
        if names:
            unknown = [n for n in names if n not in known]
            if unknown:
                raise StackError(f"unknown component(s) {', '.join(unknown)}; known: {', '.join(known)}")
            return [c for c in self.components if c.name in names]
        return [c for c in self.components if not infra_only or c.group == "infra"]

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One devstack command at a time changes this state dir (several people share a checkout)."""
        self.cfg.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.cfg.state_dir / "devstack.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def status(self, comp: Component) -> Status:
        record = self.pid_files.running(comp.name)
        healthy = comp.is_healthy()
        if record is not None:
            return Status(comp, "up" if healthy else "starting", record.pid)
        return Status(comp, "external" if healthy else "down", None)

    def start(
        self, comps: list[Component], timeout_s: float | None = None, started: list[str] | None = None
    ) -> list[str]:
        """Start what is not running yet, group by group, and wait until each one is healthy.

        Returns the names of the components this call started (also appended to `started` as they
        start, so a caller interrupted midway knows what to stop).
        """
        timeout_s = timeout_s or self.cfg.startup_timeout_s
        started = [] if started is None else started
        with self.locked():
            for groups in BATCHES:
                batch = [c for c in comps if c.group in groups]
                waiting = []
                for comp in batch:
                    if self.pid_files.running(comp.name):
                        waiting.append(comp)
                    elif comp.is_healthy():
                        print(f"    {comp.name}: {comp.where} already served (not by devstack)")
                    elif comp.port is not None and health.tcp_open(comp.port):
                        raise StackError(
                            f"{comp.name}: port {comp.port} is taken by a process that is not a healthy "
                            f"{comp.name}; stop it or set another port (see docs/devstack.md)"
                        )
                    else:
                        self._spawn(comp)
                        started.append(comp.name)
                        waiting.append(comp)
                self._wait_healthy(waiting, timeout_s)
        return started

    def _spawn(self, comp: Component) -> None:
        try:
            launch = comp.prepare()
        except provision.ProvisionError as exc:
            raise StackError(str(exc)) from exc
        provision.say(f"starting {comp.name} on {comp.where}")
        process.spawn(
            comp.name, launch.argv, cwd=launch.cwd, env=launch.env,
            log_file=self.cfg.log_file(comp.name), pid_files=self.pid_files,
        )  # fmt: skip

    def _wait_healthy(self, comps: list[Component], timeout_s: float) -> None:
        started = time.monotonic()
        pending = list(comps)
        while pending:
            for comp in list(pending):
                if comp.is_healthy():
                    print(f"    {comp.name} is up ({time.monotonic() - started:.1f}s)", flush=True)
                    pending.remove(comp)
                elif self.pid_files.running(comp.name) is None:
                    log = self.cfg.log_file(comp.name)
                    raise StackError(
                        f"{comp.name} exited during startup; its log is {log}:\n{provision.tail(log)}"
                    )
            if pending and time.monotonic() - started > timeout_s:
                details = "\n".join(f"  {c.name}: see {self.cfg.log_file(c.name)}" for c in pending)
                raise StackError(f"not healthy within {timeout_s:.0f}s:\n{details}")
            if pending:
                time.sleep(0.3)

    def stop(self, comps: list[Component]) -> list[str]:
        """Stop the given components that devstack started: services first, infrastructure last."""
        stopped: list[str] = []

        def stop_one(comp: Component) -> None:
            record = self.pid_files.read(comp.name)
            if record is None:
                return
            if process.terminate(record):
                print(f"    stopped {comp.name} (pid {record.pid})", flush=True)
                stopped.append(comp.name)
            self.pid_files.remove(comp.name)

        with self.locked():
            for group in reversed(GROUP_ORDER):
                threads = [threading.Thread(target=stop_one, args=(c,)) for c in comps if c.group == group]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
        return stopped
