"""No page shows a stored code where a person reads words (issue 15, walk 4: "Closed
(lost_contact)" on the dashboard, "in_progress" in the report's case table, "succeeded" in the
gifts list, "card" and "bank_transfer" in the report's filters).

Every page the app can produce for the demo data (with a case closed for each outcome, people
in every status, gifts in every status and channel, monthly gifts in every status) is rendered
for every kind of visitor, in English and in Japanese; the visible text (tags, attributes,
scripts and styles left out) must not contain a stored code of a status, outcome, channel or
kind: not as a whole piece of text ("succeeded" in a cell), not in brackets ("(lost_contact)"),
and a code with an underscore nowhere at all. Every code is turned into words by
``tracker.core.labels.label``, which the unit tests below hold to its tables."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from tests.cases.test_seed_and_crawl import _urls_for
from tests.donors.helpers import sign_in
from tests.factories import give, make_case
from tests.payments.conftest import mail_dir  # noqa: F401  (autouse: mail into tmp_path)
from tracker.budgets.models import DISBURSEMENT_STATUSES
from tracker.cases import services as case_services
from tracker.cases import workflow
from tracker.cases.models import AGE_BANDS, PERSON_STATUSES, TRACKS
from tracker.core import labels
from tracker.core.time import local_today
from tracker.donations.models import (
    CHANNEL_LABELS,
    DONATION_STATUSES,
    GATEWAYS,
    MESSAGE_STATUSES,
    Donation,
    Donor,
)
from tracker.extensions import db
from tracker.monthly.models import RECURRING_STATUSES, RecurringGift
from tracker.posts.models import KINDS, POST_STATUSES

#: every stored code of a status, outcome, channel or kind (what must never be read as text)
CODES = {
    *workflow.STATUSES, *workflow.OUTCOMES, *PERSON_STATUSES, *DONATION_STATUSES,
    *RECURRING_STATUSES, *CHANNEL_LABELS, *KINDS, *POST_STATUSES, *DISBURSEMENT_STATUSES,
    *TRACKS, "gift", "refund", "dispute", "dispute_reversal", "fee", "transfer", "adjustment",
    "disbursement", "offline", "sandbox",  # gateways (the outside try: "Cash · offline · Paid")
}


#: elements whose whole text is a value (a cell, an option, a badge), not a sentence
_VALUE_TAGS = frozenset({"td", "th", "option", "dd", "dt", "li", "span", "a", "button", "label",
                         "h1", "h2", "h3", "h4", "small", "strong", "em", "b", "title"})


class _Text(HTMLParser):
    """The visible text of a page: (enclosing tag, text) for each text node."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[tuple[str, str]] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:  # noqa: ANN001
        if tag not in ("br", "img", "input", "meta", "link", "hr", "source", "wbr"):
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            while self._open and self._open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if any(t in ("script", "style", "template") for t in self._open) or not data.strip():
            return
        self.pieces.append((self._open[-1] if self._open else "", data.strip()))


def codes_shown(html: str, *, japanese: bool = False) -> set[str]:
    """The codes a person would read on this page: a code with an underscore anywhere, a code
    in brackets, a code as the whole text of a value (a cell, an option, a badge) and, on a
    Japanese page, as the whole text of anything (an English sentence may say "rescued")."""
    parser = _Text()
    parser.feed(html)
    found = set()
    for tag, piece in parser.pieces:
        for code in CODES:
            if (f"({code})" in piece
                    or (piece == code and (japanese or tag in _VALUE_TAGS))
                    or ("_" in code and re.search(rf"(?<![\w/.-]){re.escape(code)}(?![\w/.-])", piece))):
                found.add(code)
    return found


def test_the_detector_finds_what_the_walk_found() -> None:
    assert codes_shown("<td>Closed (lost_contact)</td>") == {"lost_contact"}
    assert codes_shown("<td>in_progress</td><td> succeeded </td>") == {"in_progress", "succeeded"}
    assert codes_shown('<select><option value="card">card</option></select>') == {"card"}
    assert codes_shown('<a href="/x?status=in_progress" class="card">Rescue under way</a>') == set()
    assert codes_shown("<p>Pay by card, please.</p><script>var s='pending'</script>") == set()
    assert codes_shown("<p><strong>2 of 6</strong> rescued</p>") == set()
    assert codes_shown("<p><strong>2 of 6</strong> rescued</p>", japanese=True) == {"rescued"}


def _varied_data(runner) -> None:  # noqa: ANN001
    """The demo data and more: a case closed for each outcome, people in every status, gifts
    in every status and channel, monthly gifts in every status."""
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    for outcome in workflow.OUTCOMES:
        case = make_case(f"closed-{outcome.replace('_', '-')}", people=1, status="fundraising")
        give(case, 1_000, channel="cash")
        case_services.close_case(case, outcome, move_funds_to="keep")
        db.session.commit()
    case = make_case("every-person", people=len(PERSON_STATUSES), status="in_progress")
    for person, status in zip(case.beneficiaries, PERSON_STATUSES, strict=True):
        person.status = status
        person.rescued_on = local_today() if status == "rescued" else None
    gift = give(case, 2_000, email="varied@example.org", name="Varied Donor",
                channel="bank_transfer")
    template = db.session.get(Donation, gift.id)
    for n, status in enumerate(DONATION_STATUSES):
        if status == "succeeded":  # the demo's and the one above (a paid one needs settling)
            continue
        db.session.add(Donation(
            public_id=f"don_varied_{n}", case_id=case.id, donor_id=template.donor_id,
            amount_minor=3_000, currency="JPY", channel="card", status=status,
            gateway="sandbox", flag_reason="amount mismatch" if status == "flagged" else None))
    db.session.commit()
    donor = db.session.get(Donor, template.donor_id)
    for n, status in enumerate(RECURRING_STATUSES):
        db.session.add(RecurringGift(public_id=f"rec_varied_{n}", donor_id=donor.id,
                                     case_id=case.id, amount_minor=1_000, currency="JPY",
                                     gateway="sandbox", status=status))
    db.session.commit()


@pytest.mark.parametrize("role", [None, "donor", "staff", "director", "admin"])
def test_no_page_shows_a_stored_code(runner, client, auth, make_user, app, role) -> None:  # noqa: ANN001
    _varied_data(runner)
    if role == "donor":
        sign_in(client, "varied@example.org")
    elif role:
        user, password = make_user(role)
        auth.login(user.email, password)
    urls = _urls_for(app)
    if role == "donor":
        urls += ["/my/"]
    shown: dict[str, set[str]] = {}
    pages = 0
    for url in urls:
        for lang in ("en", "ja"):
            response = client.get(url + ("&" if "?" in url else "?") + f"lang={lang}")
            if response.status_code == 200 and response.mimetype == "text/html":
                pages += 1
                found = codes_shown(response.get_data(as_text=True), japanese=lang == "ja")
                if found:
                    shown[f"{url} [{lang}]"] = found
            response.close()
    assert pages > 20
    assert not shown, "codes shown to people:\n" + "\n".join(
        f"  {url}: {sorted(codes)}" for url, codes in sorted(shown.items()))


# --- the one place that turns codes into words -------------------------------------------------


DOMAINS = {
    "case_status": workflow.STATUSES, "outcome": workflow.OUTCOMES,
    "person_status": PERSON_STATUSES, "gift_status": DONATION_STATUSES,
    "monthly_status": RECURRING_STATUSES, "channel": tuple(CHANNEL_LABELS),
    "age_band": AGE_BANDS, "post_kind": KINDS, "post_status": POST_STATUSES,
    "disbursement_status": DISBURSEMENT_STATUSES, "track": TRACKS, "gateway": GATEWAYS,
    "message_status": MESSAGE_STATUSES,
    "ledger_kind": ("gift", "refund", "dispute", "dispute_reversal", "fee", "transfer",
                    "adjustment", "disbursement", "fee_cover"),
}


@pytest.mark.parametrize("domain", list(DOMAINS))
def test_every_code_has_words_in_both_languages(app, domain: str) -> None:
    from tracker.core.i18n import language

    assert set(labels.codes(domain)) == set(DOMAINS[domain])
    for code in DOMAINS[domain]:
        with language("en"):
            english = labels.label(domain, code)
        with language("ja"):
            japanese = labels.label(domain, code)
        assert english and english != code and "_" not in english, (domain, code)
        assert japanese and japanese != english and not re.search(r"[A-Za-z]{3}", japanese), \
            (domain, code, japanese)


def test_an_unknown_code_is_not_an_error(app) -> None:
    assert labels.label("outcome", "vanished_overnight") == "Vanished overnight"
    with pytest.raises(KeyError):
        labels.label("no_such_domain", "x")


def test_templates_use_it_as_a_filter(app) -> None:
    from flask import render_template_string

    from tracker.core.i18n import language

    assert render_template_string("{{ 'lost_contact'|label('outcome') }}") == "Lost contact"
    with language("ja"):
        assert render_template_string("{{ 'bank_transfer'|label('channel') }}") != "Bank transfer"
