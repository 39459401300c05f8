"""A native `EventSource` in Debian's Chromium against the real stack (issue 14).

Two backends: one whose orchestrator runs the real local model, and one whose orchestrator's model
endpoint is a closed port, so its generations fail for real (a forced generation error). The
Playwright tests are in `frontend/e2e/eventsource.mjs`; nothing is skipped.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from devstack.testing import free_port

from tests.support.stack import ROOT, UNTHROTTLED, Stack, isolation

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def test_native_eventsource_stops_after_done_and_sees_failed(infra):
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: `scripts/bootstrap.sh --test` installs it"
    assert shutil.which("node"), "node is required for the browser tests"
    failing_orchestrator = {
        "llm_provider": "openai",
        "llm_base_url": f"http://127.0.0.1:{free_port()}/v1",  # nothing listens there
        "llm_timeout_s": 5,
        "chat_max_attempts": 1,
        # An unreachable model is waited for (decision 0049) before the reply fails: 120 s by default.
        "chat_unavailable_give_up_s": 5,
    }
    with (
        Stack(
            infra,
            isolation("eventsource"),
            orchestrator={"llm_provider": "local", "llm_max_tokens": 48, "ready_timeout_s": 120},
            backend=UNTHROTTLED,
        ) as working,
        Stack(
            infra, isolation("eventsource-failing"), orchestrator=failing_orchestrator, backend=UNTHROTTLED
        ) as failing,
    ):
        env = os.environ | {
            "ALICE_E2E_BACKEND": working["backend"].url,
            "ALICE_E2E_FAILING_BACKEND": failing["backend"].url,
            "CHROMIUM_PATH": CHROMIUM,
        }
        run = subprocess.run(
            ["node", "e2e/eventsource.mjs"],
            cwd=ROOT / "frontend",
            env=env,
            capture_output=True,
            text=True,
            timeout=800,
        )
    print(run.stdout[-20000:])
    print(run.stderr[-5000:])
    assert run.returncode == 0, f"EventSource tests failed (exit {run.returncode}); see the output above"
    assert "# fail 0" in run.stdout and "# pass 2" in run.stdout, run.stdout[-3000:]
