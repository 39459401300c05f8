"""devstack's generated secrets: random per state dir, kept, private; each service gets its own."""

import stat

from devstack import secrets
from devstack.components import components
from devstack.config import Config


def test_secrets_are_random_per_state_dir_kept_and_private(tmp_path):
    first, second = secrets.load(tmp_path / "a"), secrets.load(tmp_path / "b")
    assert set(first) == set(secrets.SECRETS)
    assert all(len(value) >= 32 and value != second[name] for name, value in first.items())
    assert secrets.load(tmp_path / "a") == first
    assert stat.S_IMODE(secrets.secrets_file(tmp_path / "a").stat().st_mode) == 0o600


def test_each_service_gets_only_its_own_internal_token_and_the_backend_all(tmp_path, monkeypatch):
    monkeypatch.setenv("ALICE_DEVSTACK_DIR", str(tmp_path))
    monkeypatch.setenv("ORCHESTRATOR_INTERNAL_TOKEN", "leaked-from-the-calling-shell")
    cfg = Config()
    s = cfg.secrets()
    envs = {c.name: c.prepare().env for c in components(cfg) if c.group == "service"}
    for service in ("orchestrator", "dataflow", "kafkaflow"):
        env = envs[service]
        assert env["ALICE_INTERNAL_TOKEN"] == s[f"{service.upper()}_INTERNAL_TOKEN"]
        assert envs["backend"][f"{service.upper()}_INTERNAL_TOKEN"] == env["ALICE_INTERNAL_TOKEN"]
        assert [k for k in env if k.endswith("_INTERNAL_TOKEN")] == ["ALICE_INTERNAL_TOKEN"], service
    assert len({envs[svc]["ALICE_INTERNAL_TOKEN"] for svc in envs}) == 4
    assert envs["backend"]["JWT_SECRET"] == s["JWT_SECRET"]
    assert [svc for svc in envs if "JWT_SECRET" in envs[svc]] == ["backend"]  # it alone signs tokens
