"""A private inference service (llama-server from the cache) on a port of its own: for tests and
benchmarks, which must not depend on, or disturb, the shared stack's."""

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

from devstack import health, provision
from devstack.components import MODEL_ALIAS, bundled_model_path, inference_argv
from devstack.config import Config
from devstack.process import stop_child


class InferenceServer:
    """llama-server as devstack runs it; `start` again after `kill` is what a supervisor does."""

    def __init__(
        self, port: int, log_path: Path, *, slots: int = 4, threads: int = 1, extra: tuple[str, ...] = ()
    ):
        self.url = f"http://127.0.0.1:{port}"  # `/v1/...`, `/health`, `/metrics`, `/slots` below it
        self.model = MODEL_ALIAS
        self.slots = slots
        self.log_path = log_path
        self.argv = inference_argv(
            provision.ensure_llama_server(Config()), bundled_model_path(), port, slots, threads, MODEL_ALIAS
        ) + list(extra)  # `extra`: more llama-server flags, for benchmarks
        self.proc: subprocess.Popen | None = None

    def start(self, ready_timeout_s: float = 120.0) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            health.wait_http(f"{self.url}/health", ready_timeout_s, proc=self.proc, interval_s=0.2)
        except health.NotServing as exc:
            self.stop()
            raise RuntimeError(f"llama-server: {exc}\n{provision.tail(self.log_path)}") from exc

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None:
            stop_child(self.proc)


@contextlib.contextmanager
def private_inference_server(
    port: int, log_path: Path, *, slots: int = 4, threads: int = 1, extra: tuple[str, ...] = ()
) -> Iterator[InferenceServer]:
    server = InferenceServer(port, log_path, slots=slots, threads=threads, extra=extra)
    server.start()
    try:
        yield server
    finally:
        server.stop()
