"""Browser acceptance (issue 4): the real stack (backend, orchestrator with the local SmolLM2,
dataflow, kafkaflow on real Kafka, Redis, MongoDB protocol and Weaviate), the production build of
the frontend served by `vite preview` with its /api proxy pointed at that backend, and the
Playwright tests in `frontend/e2e/run.mjs` driving Debian's Chromium.

Nothing is skipped: a missing Chromium, missing node_modules or a service that does not start is a
failure. Screenshots go to a temporary folder unless ALICE_UPDATE_SCREENSHOTS=1, which writes the
committed ones in docs/screenshots/.
"""

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from devstack.health import wait_http
from devstack.testing import free_port

from tests.support.stack import ROOT, UNTHROTTLED, UNTHROTTLED_UPLOADS, Stack, grant_admin, isolation

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1800)]

FRONTEND = ROOT / "frontend"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
OFFLINE_MODEL = {"name": "offline-model", "base_url": "http://127.0.0.1:9/v1", "context_tokens": 2048}
# frontend/e2e/helpers.mjs signs every account in with this password.
E2E_PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def admin_email() -> str:
    return f"admin-{uuid.uuid4().hex[:8]}@example.org"


@pytest.fixture(scope="module")
def backend_url(infra, admin_email) -> Iterator[str]:
    with Stack(
        infra,
        isolation("browser"),
        dataflow={"ready_timeout_s": 120},
        kafkaflow={"poll_interval_s": 2, "ready_timeout_s": 60},
        # Short replies keep the run bounded on 2 cores; long enough to stop or cut mid-reply.
        # `offline-model`: an LLM_MODELS entry whose endpoint is down (nothing listens on port 9).
        orchestrator={
            "llm_provider": "local",
            "llm_max_tokens": 160,
            "ready_timeout_s": 120,
            "llm_models": json.dumps([OFFLINE_MODEL]),
        },
        backend=UNTHROTTLED | UNTHROTTLED_UPLOADS,
    ) as up:
        # The admin signs up like anyone (the browser test's password), then the operator grants.
        body = json.dumps({"email": admin_email, "password": E2E_PASSWORD}).encode()
        request = urllib.request.Request(
            up["backend"].url + "/api/auth/register", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as registered:
            assert registered.status == 201
        grant_admin(up["backend"], admin_email)
        yield up["backend"].url


def build_frontend() -> None:
    """The production build (`npm run build`), which `vite preview` serves."""
    assert shutil.which("node"), "node is required for the browser tests"
    deps = FRONTEND / "node_modules" / "playwright-core"
    assert deps.is_dir(), "run scripts/bootstrap.sh (npm ci in frontend/)"
    build = subprocess.run(
        ["npm", "run", "--silent", "build"], cwd=FRONTEND, capture_output=True, text=True, timeout=300
    )
    assert build.returncode == 0, f"frontend build failed:\n{build.stdout}\n{build.stderr}"


@contextmanager
def vite_preview(port: int, backend_url: str) -> Iterator[str]:
    """The production build served on 127.0.0.1:`port`, its /api proxied to `backend_url`."""
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"alice-vite-preview-{port}.log", "w")
    preview = subprocess.Popen(
        ["node", "node_modules/vite/bin/vite.js", "preview", "--port", str(port), "--strictPort"],
        cwd=FRONTEND,
        env=os.environ | {"ALICE_BACKEND_URL": backend_url},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/", 60, proc=preview)
        yield f"http://127.0.0.1:{port}"
    finally:
        preview.terminate()
        try:
            preview.wait(10)
        except subprocess.TimeoutExpired:
            preview.kill()
        log.close()


@pytest.fixture(scope="module")
def frontend_url(backend_url) -> Iterator[str]:
    build_frontend()
    with vite_preview(free_port(), backend_url) as url:
        yield url


def screenshots_dir(tmp_path: Path) -> Path:
    """Where the scripts write their screenshots: the committed ones only when asked to update."""
    return ROOT / "docs" / "screenshots" if os.environ.get("ALICE_UPDATE_SCREENSHOTS") == "1" else tmp_path


def run_browser_script(script: str, env: dict[str, str], tmp_path: Path, timeout: int, passes: int) -> None:
    """One of frontend/e2e's node:test scripts in Debian's Chromium; every one of its `passes`
    tests must pass."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: `scripts/bootstrap.sh --test` installs it"
    env = os.environ | env | {"ALICE_E2E_FAILURES": str(tmp_path / "failures"), "CHROMIUM_PATH": CHROMIUM}
    run = subprocess.run(
        ["node", f"e2e/{script}"], cwd=FRONTEND, env=env, capture_output=True, text=True, timeout=timeout
    )
    print(run.stdout[-20000:])
    print(run.stderr[-5000:])
    assert run.returncode == 0, (
        f"browser tests of {script} failed (exit {run.returncode}); see the output above"
    )
    assert "# fail 0" in run.stdout and f"# pass {passes}" in run.stdout, run.stdout[-3000:]


def test_browser_acceptance(frontend_url, admin_email, tmp_path):
    """Sign-up → chat → streamed reply → history; stop; a queued reply's place in line; document →
    indexed → citation; isolation between users; network cut mid-reply; dark theme, phone layout
    and admin pipeline screenshots."""
    screenshots = screenshots_dir(tmp_path)
    env = {
        "ALICE_E2E_URL": frontend_url,
        "ALICE_E2E_ADMIN_EMAIL": admin_email,
        "ALICE_E2E_SCREENSHOTS": str(screenshots),
    }
    run_browser_script("run.mjs", env, tmp_path, timeout=1700, passes=9)
    for name in ("chat-light.png", "chat-dark.png", "chat-phone.png", "documents.png", "admin-pipeline.png"):
        assert (screenshots / name).stat().st_size > 10_000, f"screenshot {name} missing or empty"


def test_api_keys_settings_page(frontend_url, tmp_path):
    """Create, use (`/v1` through the app's address), list by prefix and revoke a personal API key."""
    run_browser_script("apikeys.mjs", {"ALICE_E2E_URL": frontend_url}, tmp_path, timeout=300, passes=1)


def test_conversation_actions_and_feedback(frontend_url, admin_email, tmp_path):
    """Pin, archive and unarchive in the sidebar; Copy text; rate a reply with a comment, kept
    after a reload; another user gets 404 for all of it; the admin page shows the rating."""
    screenshots = screenshots_dir(tmp_path)
    env = {
        "ALICE_E2E_URL": frontend_url,
        "ALICE_E2E_ADMIN_EMAIL": admin_email,
        "ALICE_E2E_SCREENSHOTS": str(screenshots),
    }
    run_browser_script("conversations.mjs", env, tmp_path, timeout=900, passes=4)
    for name in ("chat-feedback.png", "admin-feedback.png"):
        assert (screenshots / name).stat().st_size > 10_000, f"screenshot {name} missing or empty"


def test_keyboard_shortcuts(frontend_url, tmp_path):
    """The help dialog (shortcut and button) lists the shortcuts; new chat, search (also on a
    phone, where it opens the drawer), focus the composer, and Escape stops a streaming reply."""
    screenshots = screenshots_dir(tmp_path)
    env = {"ALICE_E2E_URL": frontend_url, "ALICE_E2E_SCREENSHOTS": str(screenshots)}
    run_browser_script("keyboard.mjs", env, tmp_path, timeout=600, passes=2)
    assert (screenshots / "shortcuts.png").stat().st_size > 10_000, "screenshot shortcuts.png missing"


def test_export_and_import(frontend_url, tmp_path):
    """Import a JSON file, then the same file again (nothing added twice); export the conversation
    as Markdown and JSON and all of them as JSON (the same content back); a partly invalid and a
    non-JSON file refused, nothing added; the controls in the 390 px layout."""
    env = {"ALICE_E2E_URL": frontend_url, "ALICE_E2E_SCREENSHOTS": str(tmp_path)}
    run_browser_script("export.mjs", env, tmp_path, timeout=400, passes=2)


def test_share_link(frontend_url, tmp_path):
    """The owner makes a link in the Share dialog (390 px wide), a signed-out browser reads the
    conversation through it without composer or sidebar, the owner revokes it, and the reader's
    reload shows the revoked state."""
    screenshots = screenshots_dir(tmp_path)
    env = {"ALICE_E2E_URL": frontend_url, "ALICE_E2E_SCREENSHOTS": str(screenshots)}
    run_browser_script("share.mjs", env, tmp_path, timeout=300, passes=1)
    assert (screenshots / "shared-phone.png").stat().st_size > 10_000, "screenshot shared-phone.png missing"


def test_delete_my_data(frontend_url, tmp_path):
    """Settings → Delete my data: a wrong password refused with nothing changed; then the account
    is deleted, the user lands on the sign-in page with a notice, and the password and the old
    session are refused."""
    screenshots = screenshots_dir(tmp_path)
    env = {"ALICE_E2E_URL": frontend_url, "ALICE_E2E_SCREENSHOTS": str(screenshots)}
    run_browser_script("deleteaccount.mjs", env, tmp_path, timeout=300, passes=1)
    assert (screenshots / "delete-account.png").stat().st_size > 10_000, "screenshot missing"


def test_formulas_in_a_reply(frontend_url, tmp_path):
    """An imported reply with TeX: inline and block formulas render as MathML, a price stays text,
    and neither TeX nor raw HTML in it can link or run script."""
    screenshots = screenshots_dir(tmp_path)
    env = {"ALICE_E2E_URL": frontend_url, "ALICE_E2E_SCREENSHOTS": str(screenshots)}
    run_browser_script("math.mjs", env, tmp_path, timeout=300, passes=1)
    assert (screenshots / "math.png").stat().st_size > 10_000, "screenshot math.png missing"


def test_continue_a_reply_cut_at_its_length_limit(frontend_url, tmp_path):
    """A reply cut at the stack's max tokens offers Continue; the continuation streams into the
    same bubble, and after a reload the conversation has that one reply, grown."""
    screenshots = screenshots_dir(tmp_path)
    env = {"ALICE_E2E_URL": frontend_url, "ALICE_E2E_SCREENSHOTS": str(screenshots)}
    run_browser_script("continue.mjs", env, tmp_path, timeout=700, passes=1)
    assert (screenshots / "chat-continued.png").stat().st_size > 10_000, "screenshot missing"


def test_model_picker_and_presets(frontend_url, tmp_path):
    """Pick a model (one whose endpoint is down shows as unavailable and fails a message clearly),
    save chat settings as a preset, apply it to a new chat, reload: model and settings kept."""
    screenshots = screenshots_dir(tmp_path)
    env = {"ALICE_E2E_URL": frontend_url, "ALICE_E2E_SCREENSHOTS": str(screenshots)}
    run_browser_script("models.mjs", env, tmp_path, timeout=600, passes=1)
    for name in ("model-picker.png", "chat-settings.png"):
        assert (screenshots / name).stat().st_size > 10_000, f"screenshot {name} missing or empty"


def test_attach_a_file_in_the_composer(frontend_url, tmp_path):
    """Attach a file in a new chat's composer: its chip shows indexing progress until "ready", the
    answer cites it, and a second chat neither lists nor cites it."""
    screenshots = screenshots_dir(tmp_path)
    env = {"ALICE_E2E_URL": frontend_url, "ALICE_E2E_SCREENSHOTS": str(screenshots)}
    run_browser_script("attach.mjs", env, tmp_path, timeout=700, passes=1)
    assert (screenshots / "composer-attachment.png").stat().st_size > 10_000, "screenshot missing"


def test_edit_and_branch(frontend_url, tmp_path):
    """Edit a sent message: a second version with its own reply, the first kept; move between them
    with the buttons, the arrow keys and the shortcut; the choice survives a reload; Regenerate makes
    a second version of a reply; the controls fit 390 px."""
    screenshots = screenshots_dir(tmp_path)
    env = {"ALICE_E2E_URL": frontend_url, "ALICE_E2E_SCREENSHOTS": str(screenshots)}
    run_browser_script("branch.mjs", env, tmp_path, timeout=900, passes=2)
    assert (screenshots / "chat-versions.png").stat().st_size > 10_000, "screenshot missing"
