"""The build-time change to Weaviate's module (devstack/weaviate_build.py)."""

import pytest
from devstack import weaviate_build


def _tree(tmp_path, drop: int | None = None):
    for index, edit in enumerate(weaviate_build.EDITS):
        source = tmp_path / edit.path
        source.parent.mkdir(parents=True, exist_ok=True)
        body = "" if index == drop else f"\t{edit.old}\n"
        source.write_text(f"package {edit.package}\n\nfunc serve() {{\n{body}}}\n")
    return tmp_path


def test_each_listener_takes_the_host_from_the_environment(tmp_path):
    weaviate_build.apply_edits(_tree(tmp_path))
    for edit in weaviate_build.EDITS:
        source = (tmp_path / edit.path).read_text()
        assert edit.new in source and edit.old not in source
        helper = (tmp_path / edit.path).parent / "alice_listen_host.go"
        assert helper.read_text().startswith(f"package {edit.package}\n")
        assert 'os.Getenv("WEAVIATE_LISTEN_HOST")' in helper.read_text()


def test_a_line_that_moved_stops_the_build(tmp_path):
    with pytest.raises(weaviate_build.BuildError, match="exactly once"):
        weaviate_build.apply_edits(_tree(tmp_path, drop=1))


def test_a_module_that_cannot_be_fetched_is_a_build_error_with_go_s_reason(tmp_path):
    go = tmp_path / "go"  # a `go` that fails as `go mod download -json` does offline
    go.write_text('#!/bin/sh\necho \'{"Error": "no route to the module proxy"}\'\nexit 1\n')
    go.chmod(0o755)
    with pytest.raises(weaviate_build.BuildError, match="no route to the module proxy"):
        weaviate_build.module_dir(str(go), "v0.0.0", {}, tmp_path / "build.log")
