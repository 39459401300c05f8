"""llama.cpp is compiled in three places: the llama-cpp-python wheel uv builds (pyproject.toml),
the devstack's llama-server (provision.py) and the orchestrator image (services/Dockerfile). None may
compile for the build machine's CPU (-march=native): its AMX kernels crashed generation on a VM that
lists AMX, and a cached or imaged build must run on other machines too."""

import re
import shlex
import tomllib
from pathlib import Path

from devstack import provision

REPO = Path(__file__).resolve().parents[3]


def wheel_cmake_args() -> list[str]:
    uv = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["uv"]
    return shlex.split(uv["extra-build-variables"]["llama-cpp-python"]["CMAKE_ARGS"])


def image_cmake_args() -> list[str]:
    (value,) = re.findall(r'CMAKE_ARGS="([^"]*)"', (REPO / "services/Dockerfile").read_text())
    return shlex.split(value)


def test_every_llama_cpp_build_turns_native_cpu_tuning_off() -> None:
    assert "-DGGML_NATIVE=OFF" in provision.LLAMA_CPP_CPU_FLAGS
    for name, flags in {
        "the wheel": wheel_cmake_args(),
        "llama-server": provision.LLAMA_SERVER_CMAKE_FLAGS,
        "the image": image_cmake_args(),
    }.items():
        assert set(provision.LLAMA_CPP_CPU_FLAGS) <= set(flags), f"{name}: {flags}"
