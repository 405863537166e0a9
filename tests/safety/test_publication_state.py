"""Issue 15, critical: a stateful property test of publication.

A Hypothesis ``RuleBasedStateMachine`` drives random sequences of every staff action on cases,
people, posts, gifts and budgets through the real services: open a case, add a person, move it
along the workflow (every transition the table allows and some it refuses), put it on hold,
close it with every outcome and every money choice, mark people rescued or set their status,
show its budget, write posts (draft, embargoed, published; appeals, updates, rescue reports)
and link or publish them, record gifts (with receipts and rescue-report mail), publish the
case and pull it back. After every step it asks, as an anonymous visitor:

* a case that is not public (never published, or pulled back) is reachable from no public URL:
  its page, progress.json and donate page answer 404, and the home page, every readable post
  and the transparency page never name it (slug, title, region, people's aliases), nor does
  any mail queued while it was private;
* a published case answers 200; its progress.json has exactly the contract's keys and its
  page shows its public fields; no page, JSON or mail ever shows a canary planted in a private
  field (notes, contact, real names, details, rescue notes, budget notes);
* lives saved (home page, transparency) counts only people in public cases.

Every rule counts how often it ran; the test fails when any ran fewer than ``MIN_RUNS`` times,
so that the run really exercises every action (tune ``MAX_EXAMPLES`` / ``STEPS`` with it).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from tests.conftest import empty_all_tables
from tracker.budgets import services as budgets
from tracker.cases import services, workflow
from tracker.cases.models import AGE_BANDS, PERSON_RESCUED, PERSON_STATUSES, Beneficiary, RescueCase
from tracker.core.errors import DomainError
from tracker.core.money import Money
from tracker.core.time import current_fiscal_year, local_today, utcnow
from tracker.donations.receipts import issue_receipt
from tracker.donations.services import OfflineGift, record_offline_gift
from tracker.extensions import db
from tracker.mail.outbox import OutboxMessage
from tracker.posts import services as posts
from tracker.posts.models import KINDS, Post
from tracker.reports.services import lives_saved

#: every action must run at least this often in one run of the test: 30 runs of up to 64 steps
#: give each of the 14 actions about 125 runs (Hypothesis cuts a few runs short); about 85 s
#: on SQLite and 130 s on PostgreSQL
MIN_RUNS = 100
MAX_EXAMPLES = 30
STEPS = 64
PHASES = (Phase.generate,) if os.environ.get("NO_SHRINK") else tuple(Phase)
CANARY = "zqcanary"
PROGRESS_KEYS = {"case", "status", "group_size", "rescued", "goal", "raised", "donors",
                 "updated_at"}
#: rules that may change which cases the home page lists and the public figures count
WIDE_RULES = frozenset({"transition", "hold", "close", "mark_rescued", "publish", "unpublish"})
#: stands for "one of the cases opened so far" in ACTIONS
CASE = object()
MONEY_CHOICES = ("general", "case", "keep")


class PublicationMachine(RuleBasedStateMachine):
    """Staff act at random; an anonymous visitor checks every public surface after each act."""

    runs: Counter[str] = Counter()
    app = None

    def __init__(self) -> None:
        super().__init__()
        db.session.remove()
        empty_all_tables()
        self.visitor = self.app.test_client()
        self.serial = 0
        self.mail_seen = 0
        #: slugs of cases that were public at some point (their mail may name them)
        self.ever_public: set[str] = set()
        #: cases the last step acted on; whether it may have changed figures across cases
        self.touched: set[int] = set()
        self.wide = True
        self.case_ids: list[int] = []
        self.round: list[str] = []

    # --- helpers -------------------------------------------------------------------------

    def _next(self) -> int:
        self.serial += 1
        return self.serial

    def _count(self, name: str, *case_ids: int) -> None:
        """Count a run of rule ``name``; the cases it acts on are checked in full after it."""
        type(self).runs[name] += 1
        self.touched.update(case_ids)
        self.wide = self.wide or name in WIDE_RULES

    def _try(self, action) -> bool:  # noqa: ANN001
        """Run a staff action as a view would (in a request: mail links are built from it):
        commit on success, roll back a refusal."""
        with self.app.test_request_context("/staff/"):
            try:
                action()
            except DomainError:
                db.session.rollback()
                return False
            db.session.commit()
            return True

    def _case(self, case_id: int) -> RescueCase:
        return db.session.get(RescueCase, case_id)

    # --- staff actions -------------------------------------------------------------------

    @initialize()
    def first_case(self):
        self.touched.add(self._open_case())

    @rule(data=st.data())
    def act(self, data):
        """One staff action. The actions come in rounds, each a random order of all of them,
        so every action runs equally often (Hypothesis's own rule choice is deliberately
        uneven), and each draws its arguments from the data."""
        if not self.round:
            self.round = list(data.draw(st.permutations(sorted(ACTIONS)), label="round"))
        name = self.round.pop()
        arguments = {
            key: data.draw(st.sampled_from(self.case_ids) if strategy is CASE else strategy,
                           label=f"{name}.{key}")
            for key, strategy in ACTIONS[name].items()
        }
        getattr(self, name)(**arguments)

    def open_case(self):
        self._count("open_case", self._open_case())

    def _open_case(self) -> int:
        n = self._next()
        case = services.create_case(services.CaseInput(
            slug=f"case-{n}", public_title=f"Title{n}x", public_region=f"Region{n}x",
            goal=Money(100_000, "JPY"), public_summary=f"Summary{n}x",
            track="legal" if n % 3 == 0 else "journey",
            private_notes=f"{CANARY}notes{n}", private_contact=f"{CANARY}contact{n}"), "JPY")
        db.session.commit()
        self.case_ids.append(case.id)
        return case.id

    def add_person(self, case_id, band):
        self._count("add_person", case_id)
        case = self._case(case_id)
        n = self._next()
        self._try(lambda: services.add_beneficiary(
            case, public_alias=f"Alias{n}x", age_band=band,
            private_name=f"{CANARY}name{n}", private_details=f"{CANARY}details{n}"))

    def transition(self, case_id, target_status):
        self._count("transition", case_id)
        case = self._case(case_id)
        self._try(lambda: services.change_status(services.get_case_for_update(case.id),
                                                 target_status))

    def hold(self, case_id):
        self._count("hold", case_id)
        self._try(lambda: services.change_status(services.get_case_for_update(case_id),
                                                 workflow.ON_HOLD))

    def close(self, case_id, other, outcome, money):
        self._count("close", case_id, other)
        target = self._case(other) if money == "case" else None
        self._try(lambda: services.close_case(self._case(case_id), outcome, move_funds_to=money,
                                              target=target))

    def mark_rescued(self, case_id):
        self._count("mark_rescued", case_id)
        person = db.session.scalar(db.select(Beneficiary).where(
            Beneficiary.case_id == case_id, Beneficiary.status != PERSON_RESCUED
        ).order_by(Beneficiary.id))
        if person is not None:
            n = self._next()
            self._try(lambda: services.mark_rescued(person, local_today(),
                                                    note=f"{CANARY}rescue{n}"))

    def set_person_status(self, case_id, status):
        self._count("set_person_status", case_id)
        person = db.session.scalar(db.select(Beneficiary).where(
            Beneficiary.case_id == case_id).order_by(Beneficiary.id.desc()))
        if person is not None:
            self._try(lambda: services.set_person_status(person, status))

    def show_budget(self, case_id, show):
        self._count("show_budget", case_id)
        case = self._case(case_id)
        category = next(iter(budgets.categories()))
        n = self._next()

        def act():
            budgets.set_line(case, category, Money(50_000 + n, "JPY"),
                             private_note=f"{CANARY}budget{n}")
            budgets.set_options(case, goal_follows_budget=True, show_budget=show)

        self._try(act)

    def write_post(self, case_id, other_case, kind, choice, link_both):
        self._count("write_post", case_id, other_case)
        n = self._next()
        ids = (case_id, other_case) if link_both else (case_id,)
        data = posts.PostInput(
            title=f"Post{n}x", slug=f"post-{n}", kind=kind, body_markdown=f"Body {n}.",
            case_ids=tuple(dict.fromkeys(ids)), publish=choice,
            publish_at=utcnow() + timedelta(days=3) if choice == posts.SCHEDULE else None)
        self._try(lambda: posts.create_post(data, author_id=None))

    def edit_post(self, case_id, choice, pick):
        """Link a post (a prepared rescue report included) to a case and publish, embargo or
        draft it."""
        self._count("edit_post", case_id)
        found = db.session.scalars(db.select(Post).order_by(Post.id)).all()
        if not found:
            return
        post = found[pick % len(found)]
        self.touched.update(c.id for c in post.cases)
        data = posts.PostInput(
            title=post.title, slug=post.slug, kind=post.kind, language=post.language,
            body_markdown=post.body_markdown,
            case_ids=tuple(dict.fromkeys([*(c.id for c in post.cases), case_id])),
            publish=choice,
            publish_at=utcnow() + timedelta(days=2) if choice == posts.SCHEDULE else None,
            other_title=next((t.title for t in post.translations if t.language != post.language), ""),
            other_body=next((t.body_markdown for t in post.translations
                             if t.language != post.language), ""))
        self._try(lambda: posts.update_post(post, data))

    def donate(self, case_id, amount, wants_updates):
        self._count("donate", case_id)
        case = self._case(case_id)
        n = self._next()

        def act():
            donation = record_offline_gift(case, OfflineGift(
                amount=Money(amount, "JPY"), channel="bank_transfer", received_on=local_today(),
                donor_name=f"Donor{n}", donor_email=f"donor{n}@example.org"))
            donation.wants_updates = wants_updates
            issue_receipt(donation)

        self._try(act)

    def edit_private_notes(self, case_id):
        self._count("edit_private_notes", case_id)
        case = self._case(case_id)
        n = self._next()
        self._try(lambda: services.update_case(case, services.CaseInput(
            slug=case.slug, public_title=case.public_title, public_region=case.public_region,
            goal=Money(case.goal_amount_minor, case.goal_currency),
            public_summary=case.public_summary, track=case.track,
            private_notes=f"{CANARY}edited{n}", private_contact=case.private_contact), "JPY"))

    def publish(self, case_id):
        self._count("publish", case_id)
        self._try(lambda: services.publish(services.get_case_for_update(case_id)))

    def unpublish(self, case_id):
        self._count("unpublish", case_id)
        self._try(lambda: services.unpublish(services.get_case_for_update(case_id)))

    # --- what the public sees ------------------------------------------------------------

    def _get(self, url: str):
        response = self.visitor.get(url)
        body = response.get_data(as_text=True)
        assert CANARY not in body, f"a private field reached {url}"
        return response, body

    @invariant()
    def public_surfaces_ask_is_public(self):
        """After every step: the cases it acted on, in full; the home page and new mail; the
        transparency page and readable posts whenever the step could change them."""
        self._check(full=False)

    def teardown(self):
        """At the end of each run: every case, every readable post, every mail."""
        self._check(full=True)

    def _check(self, *, full: bool) -> None:
        db.session.expire_all()
        every = db.session.scalars(db.select(RescueCase).order_by(RescueCase.id)).all()
        private = [c for c in every if not c.is_public]
        self.ever_public |= {c.slug for c in every if c.is_public}
        # the words a private case must never be found by (its people's aliases included)
        words = {c.id: [c.slug + '"', c.slug + "/", c.public_title, c.public_region,
                        *(p.public_alias for p in c.beneficiaries)] for c in private}

        for case in every:
            if not (full or case.id in self.touched):
                continue
            # a private case: every URL answers 404; a public one: its page and its JSON
            for suffix in ("", "/progress.json", "/donate")[:3 if not case.is_public else 2]:
                response, body = self._get(f"/cases/{case.slug}{suffix}")
                if not case.is_public:
                    assert response.status_code == 404, (case.slug, case.status, suffix)
                    assert case.public_title not in body
                elif suffix == "/progress.json":
                    assert response.status_code == 200
                    assert set(json.loads(body)) == PROGRESS_KEYS
                elif suffix == "":
                    assert response.status_code == 200 and case.public_title in body

        pages = ["/", f"/transparency/{current_fiscal_year()}"] if full or self.wide else []
        pages += [f"/posts/{p.slug}" for p in posts.recent_visible_posts(limit=1000)
                  if full or any(c.id in self.touched for c in p.cases)]
        for url in pages:
            response, body = self._get(url)
            assert response.status_code == 200, url
            for case in private:
                for word in words[case.id]:
                    assert word not in body, (url, case.slug, word)
        self.touched.clear()
        self.wide = False

        # mail queued since the last step: never a canary, never a private case
        fresh = db.session.scalars(db.select(OutboxMessage).where(
            OutboxMessage.id > self.mail_seen).order_by(OutboxMessage.id)).all()
        for message in fresh:
            text = message.subject + "\n" + message.body_text
            assert CANARY not in text
            for case in private:
                assert case.public_title not in text, (message.kind, case.slug)
            self.mail_seen = message.id
        if full:  # a case never published is in no mail at all
            never = [c for c in private if c.slug not in self.ever_public]
            for (text,) in db.session.execute(db.select(OutboxMessage.body_text)):
                for case in never:
                    assert case.public_title not in text

        # lives saved counts only the people of public cases
        expected = sum(1 for c in every if c.is_public for p in c.beneficiaries
                       if p.status == PERSON_RESCUED)
        assert lives_saved(current_fiscal_year()) == expected


#: every staff action (a method of the machine) and how to draw its arguments (CASE: one of
#: the cases opened so far)
ACTIONS: dict[str, dict] = {
    "open_case": {},
    "add_person": {"case_id": CASE, "band": st.sampled_from(AGE_BANDS)},
    "transition": {"case_id": CASE, "target_status": st.sampled_from(
        [s for s in workflow.STATUSES if s != workflow.CLOSED])},
    "hold": {"case_id": CASE},
    "close": {"case_id": CASE, "other": CASE, "outcome": st.sampled_from(workflow.OUTCOMES),
              "money": st.sampled_from(MONEY_CHOICES)},
    "mark_rescued": {"case_id": CASE},
    "set_person_status": {"case_id": CASE, "status": st.sampled_from(
        [s for s in PERSON_STATUSES if s != PERSON_RESCUED])},
    "show_budget": {"case_id": CASE, "show": st.booleans()},
    "write_post": {"case_id": CASE, "other_case": CASE, "kind": st.sampled_from(KINDS),
                   "choice": st.sampled_from(posts.PUBLISH_CHOICES), "link_both": st.booleans()},
    "edit_post": {"case_id": CASE, "choice": st.sampled_from(posts.PUBLISH_CHOICES),
                  "pick": st.integers(0, 50)},
    "donate": {"case_id": CASE, "amount": st.integers(1_000, 200_000),
               "wants_updates": st.booleans()},
    "edit_private_notes": {"case_id": CASE},
    "publish": {"case_id": CASE},
    "unpublish": {"case_id": CASE},
}


@contextlib.contextmanager
def _quick_commits() -> Iterator[None]:
    """PostgreSQL: this test's thousands of commits need not wait for the disk (nothing here
    must survive a crash), which keeps its run time near SQLite's."""
    if db.engine.dialect.name != "postgresql":
        yield
        return

    def no_wait(dbapi_connection, _record) -> None:  # noqa: ANN001
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO OFF")

    db.session.remove()
    db.engine.dispose()
    sa.event.listen(db.engine, "connect", no_wait)
    try:
        yield
    finally:
        sa.event.remove(db.engine, "connect", no_wait)
        db.session.remove()
        db.engine.dispose()


def test_publication_holds_through_random_staff_actions(app):
    """Runs the machine; then checks that every rule ran at least MIN_RUNS times."""
    PublicationMachine.app = app
    PublicationMachine.runs = Counter()
    with _quick_commits():
        run_state_machine_as_test(PublicationMachine, settings=settings(
            max_examples=MAX_EXAMPLES, stateful_step_count=STEPS, deadline=None, database=None,
            phases=PHASES, suppress_health_check=list(HealthCheck)))
    rules = set(ACTIONS)
    ran = dict(PublicationMachine.runs)
    print("rule runs:", sorted(ran.items()))
    assert set(ran) == rules, f"rules never ran: {rules - set(ran)}"
    assert min(ran.values()) >= MIN_RUNS, f"rules that ran fewer than {MIN_RUNS} times: " + \
        str({k: v for k, v in ran.items() if v < MIN_RUNS})
