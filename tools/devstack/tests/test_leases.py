"""Test sessions sharing the native stack: who starts infrastructure and who stops it (unit tests;
the stack is a fake that records what it was asked to start and stop)."""

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from devstack import process
from devstack.testing.leases import NativeLease

INFRA = ("redis", "kafka", "ferretdb", "weaviate")


class FakeStack:
    def __init__(self, state_dir: Path, running: tuple[str, ...] = ()) -> None:
        self.cfg = SimpleNamespace(state_dir=state_dir)
        self.running = set(running)
        self.started: list[str] = []
        self.stopped: list[str] = []

    def select(self, names: list[str] | None = None, *, infra_only: bool = False) -> list[SimpleNamespace]:
        return [SimpleNamespace(name=n) for n in INFRA if names is None or n in names]

    def status(self, comp: SimpleNamespace) -> SimpleNamespace:
        return SimpleNamespace(state="up" if comp.name in self.running else "down")

    def start(self, comps: list[SimpleNamespace]) -> list[str]:
        names = [c.name for c in comps]
        self.running |= set(names)
        self.started += names
        return names

    def stop(self, comps: list[SimpleNamespace]) -> list[str]:
        names = [c.name for c in comps]
        self.running -= set(names)
        self.stopped += names
        return names


@pytest.fixture
def other_session() -> Iterator[subprocess.Popen]:
    """A live process standing for another pytest session on the same state dir."""
    proc = subprocess.Popen(["sleep", "120"])
    yield proc
    proc.kill()
    proc.wait()


def leases(state_dir: Path) -> list[str]:
    return sorted(p.name for p in (state_dir / "testing" / "leases").glob("*.json"))


def test_a_lone_session_starts_what_is_missing_and_stops_only_that(tmp_path):
    stack = FakeStack(tmp_path, running=("redis",))  # somebody else runs Redis
    with NativeLease(stack):
        assert stack.started == ["kafka", "ferretdb", "weaviate"]
        assert leases(tmp_path) == [f"{os.getpid()}.json"]
    assert sorted(stack.stopped) == ["ferretdb", "kafka", "weaviate"]
    assert stack.running == {"redis"}
    assert leases(tmp_path) == []
    assert not (tmp_path / "testing" / "started.json").exists()


def test_the_last_session_to_leave_stops_what_the_first_one_started(tmp_path, other_session):
    stack = FakeStack(tmp_path)
    first = NativeLease(stack)
    second = NativeLease(stack, pid=other_session.pid)
    first.__enter__()
    second.__enter__()
    assert stack.started == list(INFRA)  # the second session found everything up

    first.__exit__(None, None, None)
    assert stack.stopped == [], "infrastructure stopped under a running session"
    assert json.loads((tmp_path / "testing" / "started.json").read_text()) == sorted(INFRA)

    second.__exit__(None, None, None)
    assert sorted(stack.stopped) == sorted(INFRA)


def test_infrastructure_already_up_is_never_stopped(tmp_path):
    stack = FakeStack(tmp_path, running=INFRA)
    with NativeLease(stack):
        pass
    assert stack.started == [] and stack.stopped == []


def test_leases_of_sessions_that_are_gone_do_not_keep_the_stack_up(tmp_path, other_session):
    stack = FakeStack(tmp_path)
    lease_dir = tmp_path / "testing" / "leases"
    lease_dir.mkdir(parents=True)
    start_time = process.proc_start_time(other_session.pid)
    other_session.kill()
    other_session.wait()
    # Its process has exited; another's pid was reused (same pid, other start time); one is garbage.
    (lease_dir / f"{other_session.pid}.json").write_text(
        json.dumps({"pid": other_session.pid, "start_time": start_time})
    )
    parent = os.getppid()
    reused = {"pid": parent, "start_time": process.proc_start_time(parent) + 1}
    (lease_dir / f"{parent}.json").write_text(json.dumps(reused))
    (lease_dir / "999999999.json").write_text("not json")

    with NativeLease(stack):
        pass
    assert sorted(stack.stopped) == sorted(INFRA)
    assert leases(tmp_path) == []


def test_a_live_lease_written_by_another_session_is_respected(tmp_path, other_session):
    stack = FakeStack(tmp_path)
    lease_dir = tmp_path / "testing" / "leases"
    lease_dir.mkdir(parents=True)
    live = {"pid": other_session.pid, "start_time": process.proc_start_time(other_session.pid)}
    (lease_dir / f"{other_session.pid}.json").write_text(json.dumps(live))
    with NativeLease(stack):
        pass
    assert stack.stopped == []
    assert leases(tmp_path) == [f"{other_session.pid}.json"]
