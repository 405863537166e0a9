"""Fixtures for the browser tests: a real Chromium driving the app on a live server.

The browser is Debian's Chromium at /usr/bin/chromium, driven by Playwright's sync API
(Playwright's own browser download is never used). Without it these tests skip, and with
TRACKER_REQUIRE_ALL_TESTS=1 (CI) the skip fails the run, as intended.

Each test gets the ``app`` fixture's app (so the current backend's database: the browser tests
run on SQLite and on PostgreSQL) served by a threaded werkzeug server on a free 127.0.0.1
port, and as many separate browser contexts (cookie jars) as it asks for. Teardown order:
the contexts close (a failing test first gets a screenshot of every open page), then the
server stops and waits for its request threads, then the ``app`` fixture empties the tables.

Screenshots go to test-results/screenshots/ (gitignored).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask

from tests.conftest import totp_code
from tests.live import live_server as serve

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
#: Playwright's wait for any single action or navigation, in milliseconds
ACTION_TIMEOUT_MS = 10_000

_CALL_REPORT = pytest.StashKey[pytest.TestReport]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # noqa: ANN201
    """Keep the call phase's report on the item, so fixtures can tell that the test failed."""
    report = yield
    if report.when == "call":
        item.stash[_CALL_REPORT] = report
    return report


def _failed(node: pytest.Item) -> bool:
    report = node.stash.get(_CALL_REPORT, None)
    return report is None or report.failed  # no call report: setup itself failed


def file_stem(node: pytest.Item) -> str:
    """A file-safe name for a test: 'test_x[sqlite]' -> 'test_x-sqlite'."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", node.name).strip("-")


# --- the browser -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator:  # playwright.sync_api.Browser
    """One headless Chromium for the whole session."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"the browser tests need Debian's Chromium at {CHROMIUM} "
            "(apt-get update && apt-get install -y chromium); Playwright's own download is not used"
        )
    from playwright.sync_api import sync_playwright

    manager = sync_playwright()
    playwright = manager.start()
    try:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            launched.close()
    finally:
        manager.__exit__(None, None, None)


# --- the live server -------------------------------------------------------------------------


@pytest.fixture
def mail_dir(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Receipts emailed while browsing go to a temporary folder, never the instance folder."""
    directory = tmp_path / "mail"
    monkeypatch.setitem(app.config, "MAIL_FILE_DIR", str(directory))
    monkeypatch.setitem(app.config, "MAIL_SERVER", None)
    return directory


@pytest.fixture
def live_server(app: Flask, mail_dir: Path) -> Iterator[str]:
    """The test app on a threaded werkzeug server on a free 127.0.0.1 port; yields its URL.

    On the way out the server stops and joins every request thread (including mail sent
    after a response), so nothing writes while the ``app`` fixture empties the tables.
    """
    with serve(app) as url:
        yield url


# --- browser contexts and screenshots --------------------------------------------------------


@pytest.fixture
def new_context(browser, live_server: str, request: pytest.FixtureRequest) -> Iterator[Callable]:  # noqa: ANN001
    """Open a fresh browser context (its own cookies: one person) on the live server.

    ``new_context()`` returns a ``BrowserContext`` whose relative URLs go to the live server.
    If the test fails, every page still open is saved as
    ``test-results/screenshots/<test>--FAILED-<n>.png`` before the contexts close.
    """
    stem = file_stem(request.node)
    for stale in SCREENSHOTS.glob(f"{stem}--FAILED-*.png"):
        stale.unlink()
    contexts = []

    def make(**options):  # noqa: ANN003, ANN202
        options.setdefault("viewport", DESKTOP)
        context = browser.new_context(base_url=live_server, **options)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make

    try:
        if _failed(request.node):
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            pages = [page for context in contexts for page in context.pages]
            for n, page in enumerate(pages, 1):
                try:
                    page.screenshot(path=str(SCREENSHOTS / f"{stem}--FAILED-{n}.png"), full_page=True)
                except Exception as exc:  # a dead page must not hide the failure
                    print(f"could not save the failure screenshot of {page.url}: {exc}")
    finally:
        for context in contexts:
            context.close()


def sign_in(page, email: str, password: str) -> None:  # noqa: ANN001
    """Sign in through the browser's forms. A user with the second factor on (every admin
    ``make_user`` makes) then types the code their authenticator app would show."""
    page.goto("/login")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    if urlsplit(page.url).path == "/login/code":
        page.get_by_label("6-digit code").fill(totp_code(email))
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()


@pytest.fixture
def snap(request: pytest.FixtureRequest) -> Callable:
    """``snap(page, "label")`` saves the page at phone and desktop widths:
    ``test-results/screenshots/<test>--<label>--phone.png`` and ``...--desktop.png``.

    The page's own viewport is put back afterwards.
    """
    stem = file_stem(request.node)

    def take(page, label: str) -> list[Path]:  # noqa: ANN001
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        original = page.viewport_size
        saved = []
        try:
            for width, size in (("phone", PHONE), ("desktop", DESKTOP)):
                page.set_viewport_size(size)
                path = SCREENSHOTS / f"{stem}--{label}--{width}.png"
                page.screenshot(path=str(path), full_page=True)
                saved.append(path)
        finally:
            if original:
                page.set_viewport_size(original)
        return saved

    return take


# --- accessibility checks with axe-core ------------------------------------------------------

#: tests/e2e/package.json pins axe-core; ``npm ci`` installs it here when it is missing
E2E_DIR = Path(__file__).resolve().parent
AXE_JS = E2E_DIR / "node_modules" / "axe-core" / "axe.min.js"
#: installed by the same ``npm ci`` (tests/e2e/test_lighthouse.py)
LIGHTHOUSE = E2E_DIR / "node_modules" / ".bin" / "lighthouse"
#: the WCAG 2.0 / 2.1 A and AA rules
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
#: how long ``npm ci`` may take, in seconds
NPM_TIMEOUT_S = 180
_axe: dict[str, str] = {}


def axe_source() -> str:
    """The text of axe.min.js, installed with ``npm ci`` from tests/e2e/package-lock.json
    the first time it is needed. Without node or npm the calling test skips (with
    TRACKER_REQUIRE_ALL_TESTS=1, as in CI, the skip fails the run, as intended)."""
    if "source" in _axe:
        return _axe["source"]
    if not AXE_JS.exists() or not LIGHTHOUSE.exists():
        missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
        if missing:
            pytest.skip(f"the accessibility checks need {' and '.join(missing)} to install axe-core "
                        f"(apt-get install -y nodejs npm), then `npm ci` in {E2E_DIR}")
        try:
            done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=E2E_DIR, capture_output=True,
                                  text=True, timeout=NPM_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`npm ci` in {E2E_DIR} took over {NPM_TIMEOUT_S} s")
        if done.returncode != 0 or not AXE_JS.exists():
            pytest.fail(f"`npm ci` in {E2E_DIR} did not install axe-core (exit {done.returncode}):\n"
                        f"{done.stdout}\n{done.stderr}")
    _axe["source"] = AXE_JS.read_text(encoding="utf-8")
    return _axe["source"]


def format_violations(violations: list[dict]) -> str:
    """axe's violations as readable lines: rule id, impact, help, and each failing node."""
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
        for node in v["nodes"]:
            target = " ".join(map(str, node["target"]))
            summary = " ".join(node.get("failureSummary", "").split())
            lines.append(f"    {target}: {node['html'][:160]}")
            if summary:
                lines.append(f"      {summary[:300]}")
    return "\n".join(lines)


class Violations(list):
    """axe's violations (dicts as axe reports them); ``str()`` lists them readably."""

    def __str__(self) -> str:
        return format_violations(self) if self else "no violations"


def axe_violations(page, impacts: tuple[str, ...] = ("serious", "critical")) -> Violations:  # noqa: ANN001
    """Run axe-core's WCAG 2.0/2.1 A and AA rules on the page as it is now; returns the
    violations of the given impacts (``assert not found, str(found)`` reads well).

    axe is loaded with ``page.evaluate`` (the DevTools protocol), which the site's strict
    Content-Security-Policy does not apply to, unlike a <script> tag would be.
    """
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source() + "\n;undefined")
    results = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        list(AXE_TAGS),
    )
    return Violations(v for v in results["violations"] if v["impact"] in impacts)
