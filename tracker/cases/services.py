"""Case rules: creating cases, adding people, moving through the workflow, marking rescues.

Services take models and plain values (never a request or a form), raise DomainError with the
field at fault, ``flush()`` and write audit entries; the caller commits once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func

from tracker import audit
from tracker.cases import signals, workflow
from tracker.cases.models import (
    AGE_BANDS,
    IN_TRANSIT,
    PERSON_RESCUED,
    PERSON_STATUSES,
    TRACKS,
    Beneficiary,
    RescueCase,
)
from tracker.core import labels
from tracker.core.errors import Conflict, DomainError, NotFound
from tracker.core.locks import lock_row
from tracker.core.money import Money, currency_words
from tracker.core.time import as_utc, utcnow
from tracker.core.validation import check_staff_amount
from tracker.extensions import db
from tracker.ledger import book
from tracker.ledger.reads import money_by_case

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True, slots=True)
class CaseInput:
    """What staff type when opening or editing a case."""

    slug: str
    public_title: str
    public_region: str
    goal: Money
    public_summary: str = ""
    track: str = "journey"
    private_notes: str = ""
    private_contact: str = ""
    #: the Japanese version (all empty: none; pages in Japanese show the English with a note)
    public_title_ja: str = ""
    public_region_ja: str = ""
    public_summary_ja: str = ""


def _japanese_columns(data: CaseInput) -> dict[str, str | None]:
    """The Japanese version as stored: stripped, None where nothing was written."""
    return {"public_title_ja": data.public_title_ja.strip() or None,
            "public_summary_ja": data.public_summary_ja if data.public_summary_ja.strip() else None,
            "public_region_ja": data.public_region_ja.strip() or None}


def _check_japanese(data: CaseInput) -> None:
    """A Japanese version is whole or absent: readers of Japanese see either it or the English
    with a note, never a Japanese title over an English story."""
    title, region, summary = (data.public_title_ja.strip(), data.public_region_ja.strip(),
                              data.public_summary_ja.strip())
    if not (title or region or summary):
        return
    if not title or len(data.public_title_ja) > 200:
        raise DomainError(_("Give the Japanese title too (at most 200 characters), or leave "
                            "every Japanese field empty."), field="public_title_ja")
    if not region or len(data.public_region_ja) > 80:
        raise DomainError(
            _("Give the coarse region in Japanese too, at most 80 characters (a province, "
              "never a town)."), field="public_region_ja")
    if data.public_summary.strip() and not summary:
        raise DomainError(_("Give the Japanese summary too: the English one is written."),
                          field="public_summary_ja")


def _check_case_input(data: CaseInput, base_currency: str) -> None:
    if not 3 <= len(data.slug) <= 80 or not SLUG_RE.match(data.slug):
        raise DomainError(
            _("Use 3 to 80 lower-case letters, digits and single hyphens, like "
              "'six-flood-survivors'."),
            field="slug",
        )
    if not data.public_title.strip() or len(data.public_title) > 200:
        raise DomainError(_("Give the case a public title of at most 200 characters."),
                          "public_title")
    if not data.public_region.strip() or len(data.public_region) > 80:
        raise DomainError(
            _("Give a coarse region of at most 80 characters (a province, never a town)."),
            field="public_region",
        )
    _check_japanese(data)
    if data.track not in TRACKS:
        raise DomainError(_("Track must be one of %(tracks)s.", tracks=", ".join(TRACKS)),
                          field="track")
    if data.goal.currency != base_currency:
        raise DomainError(
            _("Set the goal in the base currency, %(currency)s.", currency=currency_words(base_currency)),
            field="goal_currency",
        )
    if data.goal.amount_minor < 0:
        raise DomainError(_("The goal cannot be negative."), field="goal")
    check_staff_amount(data.goal, field="goal")  # (a 19-digit goal overflowed the column: a 500)


def create_case(data: CaseInput, base_currency: str) -> RescueCase:
    """Open a case in the private 'requested' status."""
    _check_case_input(data, base_currency)
    if db.session.scalar(db.select(RescueCase.id).where(RescueCase.slug == data.slug)):
        raise Conflict(_("The address '%(slug)s' is already used by another case.", slug=data.slug),
                       field="slug")
    case = RescueCase(
        slug=data.slug,
        public_title=data.public_title.strip(),
        public_summary=data.public_summary,
        public_region=data.public_region.strip(),
        track=data.track,
        goal_amount_minor=data.goal.amount_minor,
        goal_currency=data.goal.currency,
        private_notes=data.private_notes,
        private_contact=data.private_contact,
        status=workflow.REQUESTED,
        **_japanese_columns(data),
    )
    db.session.add(case)
    db.session.flush()
    audit.record("case.created", case, case_id=case.id,
                 after={"slug": case.slug, "status": case.status})
    return case


def get_case_for_update(case_id: int) -> RescueCase:
    """Load a case and hold its row until commit, so concurrent changes to it serialize
    (``tracker.core.locks.lock_row``)."""
    case = lock_row(RescueCase, RescueCase.id == case_id, touch=RescueCase.status)
    if case is None:
        raise NotFound(_("No such case."))
    return case


def _people_counts(case: RescueCase) -> tuple[int, int]:
    total, rescued = db.session.execute(
        db.select(
            func.count(Beneficiary.id),
            func.count(Beneficiary.id).filter(Beneficiary.status == PERSON_RESCUED),
        ).where(Beneficiary.case_id == case.id)
    ).one()
    return int(total), int(rescued)


def change_status(case: RescueCase, target: str, *, outcome: str | None = None) -> None:
    """Move a case to ``target`` if the transition table and the case's people allow it."""
    workflow.check_transition(case.status, target)
    if target == workflow.RESCUED:
        total, rescued = _people_counts(case)
        if total == 0:
            raise Conflict(_("Add the people in this case before marking it rescued."), "status")
        if rescued < total:
            raise Conflict(
                _("%(waiting)d of %(total)d people are not marked rescued yet; "
                  "the case completes when everyone is.", waiting=total - rescued, total=total),
                field="status",
            )
    if target == workflow.CLOSED:
        if outcome not in workflow.OUTCOMES:
            raise DomainError(
                _("Choose why the case closes: %(outcomes)s.",
                  outcomes=", ".join(labels.label("outcome", o) for o in workflow.OUTCOMES)),
                field="outcome",
            )
    elif outcome is not None:
        raise DomainError(_("Only a closed case has an outcome."), field="outcome")
    before = {"status": case.status, "outcome": case.outcome}
    now = utcnow()
    case.status = target
    case.outcome = outcome
    case.updated_at = now
    if target in (workflow.RESCUED, workflow.CLOSED):
        case.completed_at = now  # when the case ended, either way
    db.session.flush()
    audit.record("case.status", case, case_id=case.id, before=before,
                 after={"status": case.status, "outcome": case.outcome})
    if target in workflow.PUBLISHING_STATUSES and case.published_at is None \
            and case.unpublished_at is None:
        # Opening the appeal (or the legal fight) is the staff's decision to go public, the
        # first time only: a case staff pulled back stays private until they publish it again.
        publish(case, now=now)
    if target == workflow.RESCUED:
        # A draft rescue report waits for staff to edit and publish (that emails the donors).
        signals.rescue_completed.send(case)


def publish(case: RescueCase, *, now: datetime | None = None) -> bool:
    """Make a case public on purpose, recording who and when (audited "case.published").

    Idempotent: publishing a public case changes nothing and returns False. Never called by
    closing or holding a case; only by staff's explicit action and the first move into
    fundraising or legal action.
    """
    if case.published_at is not None:
        return False
    now = now or utcnow()
    case.published_at = now
    case.updated_at = now
    entry = audit.record("case.published", case, case_id=case.id,
                         before={"published_at": None},
                         after={"published_at": as_utc(now).isoformat()})
    case.published_by_id = entry.actor_id
    db.session.flush()
    return True


def unpublish(case: RescueCase, *, now: datetime | None = None) -> bool:
    """Pull a public case back (someone may be in danger); audited "case.unpublished".

    Every public URL of the case then answers like a slug that never existed, and its rescue
    reports go back to draft. Idempotent: a private case changes nothing (returns False).
    """
    if case.published_at is None:
        return False
    now = now or utcnow()
    before = {"published_at": as_utc(case.published_at).isoformat(),
              "published_by_id": case.published_by_id}
    case.published_at = None
    case.published_by_id = None
    case.unpublished_at = now
    case.updated_at = now
    db.session.flush()
    audit.record("case.unpublished", case, case_id=case.id, before=before,
                 after={"published_at": None, "unpublished_at": as_utc(now).isoformat()})
    signals.case_unpublished.send(case, now=now)
    return True


def add_beneficiary(
    case: RescueCase, *, public_alias: str, age_band: str,
    private_name: str = "", private_details: str = "",
) -> Beneficiary:
    """Add a person to an open case, known publicly by alias and age band only."""
    alias = public_alias.strip()
    if not 1 <= len(alias) <= 60:
        raise DomainError(_("Give a public alias of 1 to 60 characters, like 'Mr. Y.Y.'."),
                          field="public_alias")
    if age_band not in AGE_BANDS:
        raise DomainError(_("Age band must be one of %(bands)s.", bands=", ".join(AGE_BANDS)),
                          field="age_band")
    if case.status in (workflow.RESCUED, workflow.CLOSED):
        raise Conflict(_("People cannot be added to a case that is %(status)s.",
                         status=case.status_label.lower()))
    position = db.session.scalar(
        db.select(func.coalesce(func.max(Beneficiary.position), 0))
        .where(Beneficiary.case_id == case.id)
    )
    person = Beneficiary(
        case=case, public_alias=alias, age_band=age_band, position=int(position or 0) + 1,
        private_name=private_name, private_details=private_details,
    )
    db.session.add(person)
    case.updated_at = utcnow()
    db.session.flush()
    audit.record("beneficiary.added", person, case_id=case.id,
                 after={"public_alias": alias, "age_band": age_band})
    return person


def set_person_status(person: Beneficiary, status: str) -> None:
    """Set a person's status other than rescued (waiting, in transit, lost contact, detained)."""
    if status not in PERSON_STATUSES or status == PERSON_RESCUED:
        raise DomainError(_("Use 'mark rescued' to record a rescue."), field="status")
    if person.status == PERSON_RESCUED:
        raise Conflict(_("%(alias)s is already recorded as rescued.", alias=person.public_alias),
                       field="status")
    before = {"status": person.status}
    person.status = status
    person.case.updated_at = utcnow()
    db.session.flush()
    audit.record("beneficiary.status", person, case_id=person.case_id, before=before,
                 after={"status": status})


def mark_rescued(person: Beneficiary, rescued_on: date, *, note: str = "",
                 today: date | None = None) -> bool:
    """Record that a person reached safety; completes the case when everyone has.

    Returns True when this rescue completed the case. The case row is locked first so that
    two staff marking the last two people at once still complete the case exactly once.
    """
    case = get_case_for_update(person.case_id)
    db.session.refresh(person)
    if case.status not in workflow.RESCUE_STATUSES:
        raise Conflict(
            _("People can be marked rescued only while the case is fundraising, under way or in "
              "legal action; this case is %(status)s.", status=case.status_label.lower()),
        )
    if person.status == PERSON_RESCUED:
        raise Conflict(_("%(alias)s is already recorded as rescued.", alias=person.public_alias))
    if today is not None and rescued_on > today:
        raise DomainError(_("The rescue date cannot be in the future."), field="rescued_on")
    before = {"status": person.status, "rescued_on": None}
    person.status = PERSON_RESCUED
    person.rescued_on = rescued_on
    person.private_rescue_note = note
    case.updated_at = utcnow()
    db.session.flush()
    audit.record("beneficiary.rescued", person, case_id=case.id, before=before,
                 after={"status": PERSON_RESCUED, "rescued_on": rescued_on.isoformat()})
    total, rescued = _people_counts(case)
    if rescued == total and workflow.RESCUED in workflow.allowed_targets(case.status):
        change_status(case, workflow.RESCUED)
        return True
    return False


def get_by_slug(slug: str) -> RescueCase | None:
    """A case by its URL name, whatever its status."""
    return db.session.scalar(db.select(RescueCase).where(RescueCase.slug == slug))



STALE_AFTER_DAYS = 30


def needs_attention(cases: list[RescueCase], progress: dict) -> dict[str, list[RescueCase]]:
    """The staff desk's to-do lists: private requests, funded cases not started, open cases
    with no update in 30 days, and cases with people in transit."""
    stale_before = utcnow() - timedelta(days=STALE_AFTER_DAYS)
    in_transit = set(db.session.scalars(
        db.select(Beneficiary.case_id).where(Beneficiary.status == IN_TRANSIT).distinct()
    ))
    lists: dict[str, list[RescueCase]] = {"requests": [], "funded": [], "stale": [], "transit": []}
    for case in cases:
        p = progress[case.id]
        if case.status == workflow.REQUESTED:
            lists["requests"].append(case)
        if case.status == workflow.FUNDRAISING and p.goal.amount_minor and \
                p.raised.amount_minor >= p.goal.amount_minor:
            lists["funded"].append(case)
        if case.status in workflow.OPEN_STATUSES and as_utc(p.updated_at) < stale_before:
            lists["stale"].append(case)
        if case.id in in_transit:
            lists["transit"].append(case)
    return lists


def update_case(case: RescueCase, data: CaseInput, base_currency: str) -> list[str]:
    """Edit a case's texts, region, track and goal (the slug stays: links are out there).

    Returns the names of the fields that changed. Private fields are audited as "changed",
    never with their contents, so the audit log does not become a second copy of them.
    """
    _check_case_input(replace(data, slug=case.slug), base_currency)
    if case.status in (workflow.RESCUED, workflow.CLOSED):
        raise Conflict(_("A case that is %(status)s can no longer be edited.",
                         status=case.status_label.lower()))
    new = {
        "public_title": data.public_title.strip(), "public_summary": data.public_summary,
        "public_region": data.public_region.strip(), "track": data.track,
        "goal_amount_minor": data.goal.amount_minor,
        "private_notes": data.private_notes, "private_contact": data.private_contact,
        **_japanese_columns(data),
    }
    changed = [name for name, value in new.items() if getattr(case, name) != value]
    if "goal_amount_minor" in changed and case.goal_follows_budget:
        raise Conflict(
            _("This case's goal follows its budget total; change the budget lines, or turn "
              "that off on the budget page to set the goal by hand."), field="goal")
    if not changed:
        return []
    before = {n: getattr(case, n) for n in changed if not n.startswith("private_")}
    for name in changed:
        setattr(case, name, new[name])
    if any(not n.startswith("private_") for n in changed):
        # updated_at is public (progress.json, the page's ETag): a private edit leaves it.
        case.updated_at = utcnow()
    db.session.flush()
    audit.record("case.updated", case, case_id=case.id, before=before,
                 after={n: ("changed" if n.startswith("private_") else new[n]) for n in changed})
    return changed


def pending_disbursements(case_id: int) -> int:
    """How many of a case's payments out await a decision (the budgets domain answers)."""
    return sum(int(count or 0) for _receiver, count
               in signals.count_waiting_payments.send(None, case_id=case_id))


@dataclass(frozen=True, slots=True)
class ClosePlan:
    """What closing a case will do, for staff to confirm before it happens."""

    outcome: str
    #: what the case holds now (raised less paid out), in ``currency`` minor units
    held_minor: int
    currency: str
    #: "general", "case" or "keep", as chosen
    move_funds_to: str
    destination: RescueCase | None

    @property
    def moves_minor(self) -> int:
        """The amount that will move (nothing when kept, or when the case holds nothing)."""
        return 0 if self.move_funds_to == "keep" or self.held_minor <= 0 else self.held_minor


def plan_close(case: RescueCase, outcome: str | None, *, move_funds_to: str | None,
               target: RescueCase | None = None) -> ClosePlan:
    """Check closing ``case`` as ``close_case`` would and say what it would do; changes nothing.

    Raises the same DomainErrors as ``close_case``, so a refusal shows on the form before any
    confirmation is asked for.
    """
    if outcome not in workflow.OUTCOMES:
        raise DomainError(_("Choose why the case closes."), field="outcome")
    if move_funds_to not in ("general", "case", "keep"):
        raise DomainError(_("Choose where the case's money goes."), field="move_funds_to")
    if move_funds_to == "case":
        if target is None:
            raise DomainError(_("Choose the case that receives the money."), field="target")
        if target.id == case.id:
            raise DomainError(_("Money cannot move to the case being closed."), field="target")
        if target.status not in workflow.OPEN_STATUSES:
            raise Conflict(_("The case “%(title)s” is not open; choose an open case.",
                             title=target.public_title), field="target")
    workflow.check_transition(case.status, workflow.CLOSED)
    waiting = pending_disbursements(case.id)
    if waiting:
        raise Conflict(ngettext(
            "%(num)d disbursement of this case is awaiting approval; approve or reject it "
            "before closing the case.",
            "%(num)d disbursements of this case are awaiting approval; approve or reject them "
            "before closing the case.",
            waiting,
        ))
    held = money_by_case([case.id])[case.id].held_minor
    return ClosePlan(outcome=outcome, held_minor=held, currency=case.goal_currency,
                     move_funds_to=move_funds_to,
                     destination=target if move_funds_to == "case" else None)


def close_case(case: RescueCase, outcome: str, *, move_funds_to: str,
               target: RescueCase | None = None, actor_id: int | None = None) -> int:
    """Close a case with an outcome and, if asked, move what it holds as ledger transfers.

    ``move_funds_to`` is "general" (the general fund), "case" (``target``, an open case) or
    "keep". Returns the amount moved in base-currency minor units. The checks are
    ``plan_close``'s, made again with the case's row locked.
    """
    case = get_case_for_update(case.id)
    plan_close(case, outcome, move_funds_to=move_funds_to, target=target)
    change_status(case, workflow.CLOSED, outcome=outcome)
    # What the case holds: raised less paid out (fees are the organization's, not the case's).
    held = money_by_case([case.id])[case.id].held_minor
    if move_funds_to == "keep" or held <= 0:
        return 0
    destination = target if move_funds_to == "case" else None
    book.book_transfer(case.id, destination.id if destination is not None else None,
                       Money(held, case.goal_currency), memo=f"closing {case.slug} ({outcome})",
                       created_by_id=actor_id)
    audit.record("case.funds_moved", case, case_id=case.id,
                 after={"amount_minor": held, "to": destination.slug if destination else "general fund"})
    if destination is not None:
        destination.updated_at = utcnow()
    return held
