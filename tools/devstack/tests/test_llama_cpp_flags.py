"""llama.cpp is compiled in three places: the llama-cpp-python wheel uv builds for the dev
environment (pyproject.toml), the devstack's llama-server (provision.py) and the inference image
(inference/Dockerfile, which runs provision.py's build). None may compile for the build machine's CPU
(-march=native): its AMX kernels crashed generation on a VM that lists AMX, and a cached or imaged
build must run on other machines too."""

import re
import shlex
import tomllib
from pathlib import Path

from devstack import provision

REPO = Path(__file__).resolve().parents[3]


def wheel_cmake_args() -> list[str]:
    uv = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["uv"]
    return shlex.split(uv["extra-build-variables"]["llama-cpp-python"]["CMAKE_ARGS"])


def test_every_llama_cpp_build_turns_native_cpu_tuning_off() -> None:
    assert "-DGGML_NATIVE=OFF" in provision.LLAMA_CPP_CPU_FLAGS
    builds = {"the wheel": wheel_cmake_args(), "llama-server": provision.LLAMA_SERVER_CMAKE_FLAGS}
    for name, flags in builds.items():
        assert set(provision.LLAMA_CPP_CPU_FLAGS) <= set(flags), f"{name}: {flags}"


def test_the_wheel_needs_no_openmp_runtime() -> None:
    """As the inference image's engine: a build with OpenMP needs libgomp at run time, which a slim
    Python base lacks (`libgomp.so.1: cannot open shared object file`)."""
    assert "-DGGML_OPENMP=OFF" in wheel_cmake_args()


def test_the_image_sets_no_cmake_args_of_its_own() -> None:
    """uv's extra-build-variables replace CMAKE_ARGS from the environment: flags set in the
    Dockerfile are silently dropped, which is how an image once shipped a wheel needing libgomp."""
    assert not re.search(r"CMAKE_ARGS\s*=", (REPO / "services/Dockerfile").read_text())


def test_the_inference_image_builds_llama_server_with_the_devstack_recipe_and_no_openmp() -> None:
    """The third place: inference/Dockerfile runs the devstack's own build (same flags as the
    native llama-server) and adds only -DGGML_OPENMP=OFF, since its runtime base has no libgomp."""
    dockerfile = (REPO / "inference/Dockerfile").read_text()
    assert "python -m devstack.inference_image" in dockerfile
    assert re.findall(r"CMAKE_ARGS=(\S+)", dockerfile) == ["-DGGML_OPENMP=OFF"]
