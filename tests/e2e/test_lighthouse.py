"""Lighthouse 12 (pinned at 12.2.3 in tests/e2e/package.json, installed with ``npm ci``) on
Debian's Chromium, as a phone (Lighthouse's default: mobile form factor, simulated
throttling): the home page, a case page, the donate form, a post and the thank-you page of a
recorded gift each score at least 95 in performance, accessibility, best practices and SEO.

The pages are the demo data's (``flask seed-demo``), served by the test app on SQLite: what a
donor reaches first. The scores and every audit that lost points are printed and written to
test-results/lighthouse/ so a failure says what to fix.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from flask import Flask

from tests.e2e.conftest import CHROMIUM, E2E_DIR, LIGHTHOUSE, axe_source
from tracker.cases.models import RescueCase
from tracker.donations.models import SUCCEEDED, Donation
from tracker.extensions import db
from tracker.posts.models import Post

pytestmark = pytest.mark.e2e

RESULTS = Path(__file__).resolve().parents[2] / "test-results" / "lighthouse"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
MINIMUM = 95
#: a case donors can still give to
OPEN = ("fundraising", "in_progress", "legal_action")
#: Lighthouse's performance score moves with the machine's load (a busy CPU lengthens the
#: main-thread tasks it measures), so a page gets up to five runs: it passes when one run
#: scores at least 95 in every category. A page that truly scores lower fails all five. (Three
#: were not enough once while both halves of CI ran browser tests side by side; the same
#: code passed in the runs before and after it.)
ATTEMPTS = 5
#: one page's run, in seconds (a run takes about 15 s on a quiet machine)
RUN_TIMEOUT_S = 180


@pytest.fixture
def lighthouse() -> Path:
    axe_source()  # installs tests/e2e's tools with npm ci (axe-core and lighthouse) if needed
    if not LIGHTHOUSE.exists():
        pytest.fail(f"`npm ci` in {E2E_DIR} did not install lighthouse")
    if not CHROMIUM.exists():
        pytest.skip("the Lighthouse checks need Debian's Chromium at /usr/bin/chromium")
    return LIGHTHOUSE


def run(lighthouse: Path, url: str, name: str) -> tuple[dict[str, int], list[str]]:
    """Lighthouse on ``url``: its four scores (0-100) and the audits that lost points."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = RESULTS / f"{name}.json"
    env = {**os.environ, "CHROME_PATH": str(CHROMIUM)}
    done = subprocess.run(
        [str(lighthouse), url, "--quiet", "--output=json", f"--output-path={report}",
         f"--only-categories={','.join(CATEGORIES)}",
         "--chrome-flags=--headless=new --no-sandbox --disable-gpu --no-first-run"],
        env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    assert done.returncode == 0 and report.exists(), (
        f"lighthouse failed on {url} (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    result = json.loads(report.read_text(encoding="utf-8"))
    scores = {c: round(100 * (result["categories"][c]["score"] or 0)) for c in CATEGORIES}
    lost = []
    for category in CATEGORIES:
        for ref in result["categories"][category]["auditRefs"]:
            audit = result["audits"][ref["id"]]
            if ref["weight"] and audit["score"] is not None and audit["score"] < 1:
                lost.append(f"{category}: {audit['id']} ({audit['score']}): {audit['title']}"
                            f" {audit.get('displayValue', '')}".rstrip())
    return scores, lost


# One database is enough for a page's quality (the other browser tests run on both).
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_donor_pages_score_95_on_a_phone(app: Flask, runner, live_server: str, lighthouse: Path) -> None:  # noqa: ANN001
    seeded = runner.invoke(args=["seed-demo"])
    assert seeded.exit_code == 0, seeded.output
    with app.app_context():
        case_slug = db.session.scalars(db.select(RescueCase.slug).where(
            RescueCase.is_public, RescueCase.status.in_(OPEN)).order_by(RescueCase.id)).first()
        assert case_slug is not None, seeded.output
        post = db.session.scalars(db.select(Post).where(Post.published_at.is_not(None))
                                  .order_by(Post.id)).first()
        gift = db.session.scalars(db.select(Donation).where(
            Donation.status == SUCCEEDED, Donation.case_id.is_not(None)).order_by(Donation.id)).first()
        assert post is not None and gift is not None
        pages = {
            "home": "/",
            "case": f"/cases/{case_slug}",
            "donate": f"/cases/{case_slug}/donate",
            "post": f"/posts/{post.slug}",
            "thanks": f"/donations/{gift.public_id}/thanks",
        }
    failures = []
    for name, path in pages.items():
        for attempt in range(1, ATTEMPTS + 1):
            scores, lost = run(lighthouse, live_server + path, f"{name}-{attempt}")
            print(f"lighthouse {name:<7} {path} (run {attempt}): {scores}")
            for line in lost:
                print(f"    {line}")
            low = {c: s for c, s in scores.items() if s < MINIMUM}
            if not low:
                break
        else:
            failures.append(f"{name} ({path}): {low}; lost points: {lost}")
    assert not failures, "Lighthouse scores under 95:\n" + "\n".join(failures)
