"""Helpers shared by the test suites, imported as `tests.support.<module>` (the repo root is on
pytest's `pythonpath`, pyproject.toml):

- `stack`: the end-to-end stack of service processes, and client helpers for the public API,
  reply streams and chat requests (tests/e2e; the client helpers also in tests/containers and
  tests/cluster);
- `chaos`: users chatting through a crash schedule (tests/e2e, tests/cluster, bench/crash_cost.py);
- `composestack`: the compose project of a container test session (tests/containers);
- `kube`: kubectl and the skaffold session of the cluster tests (tests/cluster);
- `deploy_lib`: paths, kustomize rendering and pod accessors of the static deployment tests
  (tests/deploy).
"""
