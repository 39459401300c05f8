"""One image build at a time on this machine's Docker daemon.

The container tests and the cluster stage run side by side (scripts/test.sh) and both build the
same Dockerfiles. Debian's Docker 20.10 (BuildKit 0.8) panics now and then when two builds solve
the same steps at once ("panic: failed to get edge", moby/moby#42414); the daemon dies and takes
the cluster's node container with it. Seen on a cold cache, where both stages build everything.
"""

import contextlib
import fcntl
import time
from collections.abc import Iterator
from pathlib import Path

from devstack.config import Config


def _lock_path() -> Path:
    cache = Config().cache_dir
    cache.mkdir(parents=True, exist_ok=True)
    return cache / "image-builds.lock"


@contextlib.contextmanager
def one_build_at_a_time(what: str) -> Iterator[float]:
    """Holds the machine-wide build lock for `what`; yields the seconds spent waiting for it."""
    with _lock_path().open("w") as lock:
        started = time.monotonic()
        fcntl.flock(lock, fcntl.LOCK_EX)
        waited = time.monotonic() - started
        if waited >= 1:
            print(f"\n{what}: waited {waited:.0f}s for another image build to finish", flush=True)
        try:
            yield waited
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
