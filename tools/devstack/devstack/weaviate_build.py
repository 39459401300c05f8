"""Weaviate's server built from its pinned Go module, with one change: the gRPC port and the
cluster data port listen on the host named by WEAVIATE_LISTEN_HOST (unset: every interface, as
upstream). Weaviate 1.35 has no setting for either (decision 0070), and the native stack must
keep every port on loopback.

The change is made at build time to a copy of the module taken from Go's module cache (Go's
`-overlay` refuses files there); the copy is deleted after the build, so only the binary is kept.
A replaced line that is not found exactly once stops the build: a new Weaviate version needs this
module looked at again, never a silently unpatched binary.
"""

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

MODULE = "github.com/weaviate/weaviate"
LISTEN_HOST_ENV = "WEAVIATE_LISTEN_HOST"


class BuildError(RuntimeError):
    """The module could not be fetched, or an edit did not find its line."""


@dataclass(frozen=True)
class Edit:
    path: str  # inside the module
    package: str
    old: str
    new: str


_SPRINTF = 'fmt.Sprintf(":%d",'
_WITH_HOST = 'fmt.Sprintf(aliceListenHost()+":%d",'
EDITS = (
    Edit("adapters/handlers/grpc/server.go", "grpc", f'net.Listen("tcp", {_SPRINTF}',
         f'net.Listen("tcp", {_WITH_HOST}'),
    Edit("adapters/handlers/rest/clusterapi/serve.go", "clusterapi", f"Addr:      {_SPRINTF} port),",
         f"Addr:      {_WITH_HOST} port),"),
    Edit("adapters/handlers/rest/clusterapi/grpc/server.go", "grpc", f'net.Listen("tcp", {_SPRINTF}',
         f'net.Listen("tcp", {_WITH_HOST}'),
)  # fmt: skip


def _helper(package: str) -> str:
    return (
        f"package {package}\n\n"
        'import "os"\n\n'
        f"// Added by Alice's devstack: the host these listeners bind to ({LISTEN_HOST_ENV}).\n"
        f'func aliceListenHost() string {{ return os.Getenv("{LISTEN_HOST_ENV}") }}\n'
    )


def apply_edits(tree: Path) -> None:
    for edit in EDITS:
        source = tree / edit.path
        text = source.read_text()
        if text.count(edit.old) != 1:
            raise BuildError(f"{edit.path}: expected {edit.old!r} exactly once (weaviate_build.py)")
        source.write_text(text.replace(edit.old, edit.new))
        (source.parent / "alice_listen_host.go").write_text(_helper(edit.package))


def module_dir(go: str, version: str, env: dict[str, str], log_file: Path) -> Path:
    """The pinned module's source in Go's module cache (downloaded if missing)."""
    with log_file.open("a") as log:
        out = subprocess.run(
            [go, "mod", "download", "-json", f"{MODULE}@{version}"],
            env=env, stdout=subprocess.PIPE, stderr=log, text=True,
        )  # fmt: skip
    if out.returncode != 0:  # `go mod download -json` reports its error in the JSON too
        raise BuildError(f"`go mod download {MODULE}@{version}` failed: {out.stdout[-2000:].strip()}")
    return Path(json.loads(out.stdout)["Dir"])


def copy_for_build(module: Path, work: Path) -> Path:
    tree = work / "weaviate"
    shutil.copytree(module, tree)
    for path in [tree, *tree.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)  # the module cache is read-only
    apply_edits(tree)
    return tree
