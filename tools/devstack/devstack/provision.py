"""Provision the infrastructure binaries into the per-user cache; every step is skipped when cached."""

import contextlib
import fcntl
import hashlib
import os
import shlex
import shutil
import subprocess
import tarfile
import threading
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

from devstack import weaviate_build
from devstack.config import (
    FERRETDB_VERSION,
    KAFKA_VERSION,
    KEYCLOAK_VERSION,
    MODEL_PACKAGE,
    TOOL_DIR,
    WEAVIATE_VERSION,
    Config,
    LockedArtifact,
    engine_source,
    model_source,
)


class ProvisionError(RuntimeError):
    pass


def say(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m", flush=True)


def run_slow_step(title: str, argv: list[str], *, log_file: Path, cwd: Path | None = None, env=None) -> None:
    """Run a long command with its output in a log file, printing a heartbeat while it works."""
    say(f"{title} (output: {log_file})")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(15):
            print(f"    ... still working ({time.monotonic() - started:.0f}s)", flush=True)

    threading.Thread(target=heartbeat, daemon=True).start()
    try:
        with log_file.open("wb") as log:
            result = subprocess.run(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    finally:
        done.set()
    if result.returncode != 0:
        raise ProvisionError(
            f"{title} failed (exit {result.returncode}); see {log_file}:\n{tail(log_file, 30)}"
        )
    print(f"    done in {time.monotonic() - started:.0f}s", flush=True)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def require(tool: str, hint: str) -> str:
    found = shutil.which(tool)
    if not found:
        raise ProvisionError(f"`{tool}` not found on PATH: {hint}")
    return found


def ensure_redis(cfg: Config) -> str:
    return require("redis-server", "run scripts/bootstrap.sh (installs the Debian redis-server package)")


def _kafka_pom_digest() -> str:
    digest = hashlib.sha256()
    for name in ("pom.xml",):
        digest.update((TOOL_DIR / "kafka" / name).read_bytes())
    return digest.hexdigest()


def ensure_kafka(cfg: Config) -> Path:
    """Kafka's jars from Maven Central into <cache>/kafka-<version>/libs, refetched when the pom changes."""
    require("java", "install a JDK 17+ (Debian: openjdk-17-jre-headless)")
    home = cfg.kafka_home
    marker = home / "libs.sha256"
    digest = _kafka_pom_digest()
    if marker.is_file() and marker.read_text().strip() == digest and (home / "libs").is_dir():
        return home / "libs"
    require("mvn", "install Maven (Debian: maven)")
    staging = home / "libs.new"
    shutil.rmtree(staging, ignore_errors=True)
    run_slow_step(
        f"fetching Apache Kafka {KAFKA_VERSION} jars with Maven (first run only)",
        [
            "mvn", "-q", "-B", "dependency:copy-dependencies",
            "-f", str(TOOL_DIR / "kafka" / "pom.xml"),
            f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
        ],
        log_file=cfg.logs_dir / "provision-kafka.log",
    )  # fmt: skip
    shutil.rmtree(home / "libs", ignore_errors=True)
    staging.rename(home / "libs")
    marker.write_text(digest + "\n")
    return home / "libs"


def ensure_keycloak(cfg: Config) -> Path:
    """Keycloak's server distribution from Maven Central into <cache>/keycloak-<version> (the single
    sign-on tests' OpenID Connect provider; not part of the stack `devstack up` runs)."""
    require("java", "install a JDK 17+ (Debian: openjdk-17-jre-headless)")
    home = cfg.keycloak_home
    if (home / "bin" / "kc.sh").is_file():
        return home
    require("mvn", "install Maven (Debian: maven)")
    staging = cfg.cache_dir / "wip" / f"keycloak-{KEYCLOAK_VERSION}"
    shutil.rmtree(staging, ignore_errors=True)
    run_slow_step(
        f"fetching Keycloak {KEYCLOAK_VERSION} with Maven (first run only)",
        [
            "mvn", "-q", "-B", "dependency:copy",
            f"-Dartifact=org.keycloak:keycloak-quarkus-dist:{KEYCLOAK_VERSION}:zip",
            f"-DoutputDirectory={staging}",
        ],
        log_file=cfg.logs_dir / "provision-keycloak.log",
    )  # fmt: skip
    with zipfile.ZipFile(staging / f"keycloak-quarkus-dist-{KEYCLOAK_VERSION}.zip") as archive:
        archive.extractall(staging)
    unpacked = staging / f"keycloak-{KEYCLOAK_VERSION}"
    for script in (unpacked / "bin").glob("*.sh"):
        script.chmod(0o755)  # zipfile drops the mode bits
    shutil.rmtree(home, ignore_errors=True)
    unpacked.rename(home)
    shutil.rmtree(staging, ignore_errors=True)
    return home


def _go_env(cfg: Config) -> dict[str, str]:
    return dict(os.environ)


def ensure_ferretdb(cfg: Config) -> Path:
    binary = cfg.ferretdb_bin
    if binary.is_file():
        return binary
    go = require("go", "install Go 1.24+")
    binary.parent.mkdir(parents=True, exist_ok=True)
    run_slow_step(
        f"building FerretDB {FERRETDB_VERSION} with Go (first run only, a few minutes)",
        [go, "build", "-o", str(binary), "."],
        cwd=TOOL_DIR / "ferretdb",
        env=_go_env(cfg),
        log_file=cfg.logs_dir / "provision-ferretdb.log",
    )
    return binary


def ensure_weaviate(cfg: Config) -> Path:
    """Weaviate's server from its pinned Go module, with listen hosts (devstack/weaviate_build.py)."""
    binary = cfg.weaviate_bin
    if binary.is_file():
        return binary
    go = require("go", "install Go 1.24+")
    with _build_once(cfg, binary, binary.parent.name) as work:
        if work is None:
            return binary
        log_file = cfg.logs_dir / "provision-weaviate.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            module = weaviate_build.module_dir(go, WEAVIATE_VERSION, _go_env(cfg), log_file)
            tree = weaviate_build.copy_for_build(module, work)
        except weaviate_build.BuildError as exc:
            raise ProvisionError(f"Weaviate {WEAVIATE_VERSION}: {exc}; see {log_file}") from exc
        staging = work / "weaviate-server"
        run_slow_step(
            f"building Weaviate {WEAVIATE_VERSION} with Go (first run only, 10+ minutes)",
            [go, "build", "-o", str(staging), "./cmd/weaviate-server"],
            cwd=tree,
            env=_go_env(cfg),
            log_file=log_file,
        )
        binary.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(staging, binary)
    return binary


@contextlib.contextmanager
def _build_once(cfg: Config, binary: Path, name: str) -> Iterator[Path | None]:
    """An empty work folder `<cache>/wip/<name>` to build `binary` in, deleted afterwards; None when
    `binary` appeared while waiting for the lock (another clone built the same version)."""
    work = cfg.cache_dir / "wip" / name
    work.parent.mkdir(parents=True, exist_ok=True)
    with (work.parent / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.is_file():
            yield None
            return
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        try:
            yield work
        finally:
            shutil.rmtree(work, ignore_errors=True)


# Only the programs asked for (llama-server; llama-batched-bench for bench/), linked statically so
# each cached binary stands alone (the build tree is deleted); no network at build time (no curl,
# no prebuilt web UI download). The CPU flags are the wheel's
# (pyproject.toml, [tool.uv.extra-build-variables]): no -march=native, whose AMX kernels crashed
# generation on a VM that lists AMX; llama.cpp then builds for AVX2/FMA/F16C, which also keeps a
# cached build usable on another machine. CMAKE_ARGS from the environment comes last.
LLAMA_CPP_CPU_FLAGS = ["-DGGML_NATIVE=OFF"]
LLAMA_SERVER_CMAKE_FLAGS = [
    *LLAMA_CPP_CPU_FLAGS,
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_APP=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
]
BUILD_JOBS = os.environ.get("ALICE_BUILD_JOBS", "2")  # shared machines: never every core


def _download_pinned(source: LockedArtifact, into: Path) -> Path:
    """A uv.lock artifact downloaded into `into`, its sha256 checked against the lock's."""
    archive = into / Path(source.url).name
    digest = hashlib.sha256()
    with urllib.request.urlopen(source.url, timeout=60) as response, archive.open("wb") as out:
        while chunk := response.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != source.sha256:
        archive.unlink()
        raise ProvisionError(f"{archive.name}: sha256 {digest.hexdigest()} is not uv.lock's {source.sha256}")
    return archive


def _fetch_engine_source(source: LockedArtifact, into: Path, log_file: Path) -> Path:
    """The pinned sdist (digest checked against uv.lock), unpacked down to its vendor/llama.cpp."""
    say(f"downloading the llama-cpp-python {source.version} sdist (llama.cpp sources, ~80 MB)")
    archive = _download_pinned(source, into)
    prefix = f"llama_cpp_python-{source.version}/vendor/llama.cpp/"
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
        if not members:
            raise ProvisionError(f"{archive.name} has no {prefix}")
        # Debian's Python 3.11.2 (the offline image base) predates extraction filters; the archive's
        # digest was checked against uv.lock either way.
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(into, members=members, **safe)
    archive.unlink()
    return into / prefix


def ensure_model(cfg: Config) -> Path:
    """The default chat model's .gguf, taken out of the wheel uv.lock pins (no Python install)."""
    found = sorted(cfg.model_dir.glob("*.gguf"))
    if found:
        return found[0]
    source = model_source()
    staging = cfg.model_dir.with_name(cfg.model_dir.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    say(f"downloading the {MODEL_PACKAGE} {source.version} wheel (the default model, ~90 MB)")
    wheel = _download_pinned(source, staging)
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(".gguf")]
        if not names:
            raise ProvisionError(f"{wheel.name} has no .gguf file")
        with archive.open(names[0]) as src, (staging / Path(names[0]).name).open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    wheel.unlink()
    shutil.rmtree(cfg.model_dir, ignore_errors=True)
    staging.rename(cfg.model_dir)
    return cfg.model_dir / Path(names[0]).name


def ensure_llama_server(cfg: Config) -> Path:
    """llama.cpp's llama-server built from the pinned llama-cpp-python sdist; first run only."""
    return ensure_llama_tool(cfg, "llama-server")


def ensure_llama_tool(cfg: Config, target: str) -> Path:
    """One llama.cpp program (`llama-server`, or `llama-batched-bench` for bench/) built from the
    pinned llama-cpp-python sdist and kept in the cache; first run only."""
    binary = cfg.llama_server_bin.with_name(target)
    if binary.is_file():
        return binary
    cmake = require("cmake", "install CMake 3.14+ and a C++17 compiler (Debian: cmake build-essential)")
    source = engine_source()
    with _build_once(cfg, binary, f"{binary.parent.name}-{target}") as work:
        if work is None:
            return binary
        log_file = cfg.logs_dir / f"provision-{target}.log"
        src = _fetch_engine_source(source, work, log_file)
        build = work / "build"
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        extra = shlex.split(os.environ.get("CMAKE_ARGS", ""))
        run_slow_step(
            f"configuring {target} {source.version}",
            [cmake, "-S", str(src), "-B", str(build), *generator, *LLAMA_SERVER_CMAKE_FLAGS, *extra],
            log_file=log_file,
        )
        run_slow_step(
            f"building {target} {source.version} with {BUILD_JOBS} jobs at low priority "
            "(first run only, 10+ minutes)",
            ["nice", "-n", "10", cmake, "--build", str(build), "-j", BUILD_JOBS, "--target", target],
            log_file=cfg.logs_dir / f"provision-{target}-build.log",
        )
        staging = binary.with_name(f"{target}.new")
        binary.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(build / "bin" / target, staging)
        staging.rename(binary)
    return binary


def provision_all(cfg: Config) -> None:
    ensure_redis(cfg)
    ensure_kafka(cfg)
    ensure_ferretdb(cfg)
    ensure_weaviate(cfg)
    ensure_llama_server(cfg)
