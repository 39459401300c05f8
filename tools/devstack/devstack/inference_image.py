"""What the inference image carries, staged by the build stage of inference/Dockerfile:
llama-server built exactly as the native stack builds it and the default model's .gguf, both pinned
by uv.lock. The Dockerfile points ALICE_CACHE_DIR at a build cache mount, so either is built or
downloaded once per Docker build cache.

    python -m devstack.inference_image OUT_DIR
"""

import shutil
import sys
from pathlib import Path

from devstack import provision
from devstack.config import Config


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    cfg = Config()
    shutil.copy2(provision.ensure_llama_server(cfg), out / "llama-server")
    shutil.copy2(provision.ensure_model(cfg), out / "model.gguf")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
