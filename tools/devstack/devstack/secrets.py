"""The native stack's secrets: random values generated on first use and kept in the state dir
(`secrets.env`, mode 0600, never in git), so every checkout (or ALICE_DEVSTACK_DIR) has its own.

The infrastructure servers are started with them, the services get them through `service_env`,
and the test harness reads them from the same file. Delete the file (with the stack down) to
rotate them; Weaviate and Redis take the new values on their next start.
"""

import fcntl
import os
import secrets
from pathlib import Path

# name -> length in characters (alphanumeric: no quoting needed in a URL or an env file)
SECRETS = {
    "JWT_SECRET": 64,
    "ALICE_INTERNAL_TOKEN": 48,  # the backend's own; each internal service accepts only its own:
    "ORCHESTRATOR_INTERNAL_TOKEN": 48,
    "DATAFLOW_INTERNAL_TOKEN": 48,
    "KAFKAFLOW_INTERNAL_TOKEN": 48,
    "WEAVIATE_API_KEY": 40,
    "WEAVIATE_CLUSTER_PASSWORD": 40,
    "REDIS_PASSWORD": 40,
}
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def random_secret(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def secrets_file(state_dir: Path) -> Path:
    return Path(state_dir) / "secrets.env"


def _parse(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and not name.startswith("#"):
            found[name.strip()] = value.strip()
    return found


def load(state_dir: Path) -> dict[str, str]:
    """Every secret of this state dir; the missing ones are generated and written first."""
    path = secrets_file(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / "secrets.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        known = _parse(path.read_text()) if path.is_file() else {}
        missing = {name: random_secret(n) for name, n in SECRETS.items() if not known.get(name)}
        if missing:
            known |= missing
            lines = ["# devstack secrets, generated on first use; never commit. Delete to rotate."]
            lines += [f"{name}={value}" for name, value in known.items()]
            fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write("\n".join(lines) + "\n")
            os.replace(path.with_suffix(".tmp"), path)
        os.chmod(path, 0o600)
    return known
