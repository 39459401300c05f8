# shellcheck shell=bash
# Shared environment for the project's scripts: sourced, not run.
# Slow downloads and builds live in a per-user cache outside the checkout, so a fresh clone reuses them.
export ALICE_CACHE_DIR="${ALICE_CACHE_DIR:-$HOME/.cache/alice}"
export UV_CACHE_DIR="${UV_CACHE_DIR:-$ALICE_CACHE_DIR/uv}"
export UV_PYTHON_DOWNLOADS=never   # use the machine's Python 3.11, never a downloaded build
export UV_PYTHON="${UV_PYTHON:-python3.11}"
export UV_LINK_MODE=copy
export PATH="$HOME/.local/bin:$PATH"
# Inside `uv run`, UV is already the path of that uv (and exported): keep it.
[[ -x "${UV:-}" ]] || UV="python3.11 -m uv"
