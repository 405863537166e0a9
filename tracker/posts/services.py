"""Post rules: writing, scheduling and publishing posts; what the public may read, and when.

Services take plain values (never a request or a form), raise DomainError naming the field at
fault, ``flush()`` and write audit entries; the caller commits once. Every change bumps
``Post.updated_at``: the public case page's cache is keyed on it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import url_for
from sqlalchemy import and_, or_
from sqlalchemy.orm import selectinload

from tracker.cases import workflow
from tracker.cases.models import RescueCase
from tracker.core import audit, outbox
from tracker.core.errors import Conflict, DomainError
from tracker.core.time import as_utc, utcnow
from tracker.donations.models import SUCCEEDED, Donation, Donor
from tracker.extensions import db
from tracker.posts.models import DRAFT, KIND_LABELS, KINDS, PUBLISHED, SCHEDULED, Post, post_cases

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_MIN, SLUG_MAX = 3, 120
TITLE_MAX = 200
BODY_MAX = 100_000
#: what staff may do with a post when saving it
SAVE_DRAFT, SCHEDULE, PUBLISH_NOW = "draft", "schedule", "publish"
PUBLISH_CHOICES: tuple[str, ...] = (SAVE_DRAFT, SCHEDULE, PUBLISH_NOW)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

RESCUE_REPORT = "rescue_report"


# --------------------------------------------------------------------------- public reading


def _visible_now():
    now = utcnow()
    return or_(
        Post.status == PUBLISHED,
        and_(Post.status == SCHEDULED, Post.publish_at <= now),
    )


def visible_posts_for_case(case: RescueCase, limit: int = 20) -> list[Post]:
    """Posts linked to a case that the public may read now, newest first."""
    return list(
        db.session.scalars(
            db.select(Post)
            .join(post_cases, post_cases.c.post_id == Post.id)
            .where(post_cases.c.case_id == case.id, _visible_now())
            .order_by(db.func.coalesce(Post.published_at, Post.publish_at).desc())
            .limit(limit)
        )
    )


def recent_visible_posts(limit: int = 5) -> list[Post]:
    """The newest posts the public may read."""
    return list(
        db.session.scalars(
            db.select(Post)
            .where(_visible_now())
            .order_by(db.func.coalesce(Post.published_at, Post.publish_at).desc())
            .limit(limit)
        )
    )


def get_visible_post(slug: str) -> Post | None:
    """A post by slug if the public may read it now (drafts and embargoed posts stay hidden)."""
    return db.session.scalar(db.select(Post).where(Post.slug == slug, _visible_now()))


# --------------------------------------------------------------------------- staff reading


def staff_posts() -> list[Post]:
    """Every post, whatever its status, newest first, with its cases loaded."""
    return list(db.session.scalars(
        db.select(Post).options(selectinload(Post.cases))
        .order_by(Post.created_at.desc(), Post.id.desc())
    ))


def get_by_slug(slug: str) -> Post | None:
    """A post by its URL name, whatever its status (staff only)."""
    return db.session.scalar(db.select(Post).where(Post.slug == slug))


def case_choices() -> dict[int, str]:
    """Every case as ``{id: label}`` for linking posts, newest first (private requests too:
    the public post page only ever lists a linked case once it is public)."""
    rows = db.session.execute(
        db.select(RescueCase.id, RescueCase.public_title, RescueCase.status)
        .order_by(RescueCase.id.desc())
    )
    return {case_id: f"{title} ({workflow.LABELS[status].lower()})" for case_id, title, status in rows}


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True, slots=True)
class PostInput:
    """What staff type when writing or editing a post."""

    title: str
    slug: str
    kind: str
    body_markdown: str = ""
    case_ids: tuple[int, ...] = ()
    #: "draft", "schedule" or "publish"
    publish: str = SAVE_DRAFT
    #: the end of the embargo (timezone-aware); required to schedule, in the future
    publish_at: datetime | None = None


def _check_input(data: PostInput, post: Post | None, now: datetime) -> list[RescueCase]:
    """Check everything before changing anything; return the cases to link."""
    title = data.title.strip()
    if not title:
        raise DomainError("Give the post a title.", field="title")
    if len(title) > TITLE_MAX:
        raise DomainError(f"Keep the title to {TITLE_MAX} characters.", field="title")
    if _CONTROL.search(title):
        raise DomainError("Write the title on one line.", field="title")
    if not SLUG_MIN <= len(data.slug) <= SLUG_MAX or not SLUG_RE.match(data.slug):
        raise DomainError(
            f"Use {SLUG_MIN} to {SLUG_MAX} lower-case letters, digits and single hyphens, "
            "like 'six-survivors-appeal'.",
            field="slug",
        )
    if data.kind not in KINDS:
        raise DomainError(
            f"Choose what the post is: {', '.join(KIND_LABELS[k].lower() for k in KINDS)}.",
            field="kind",
        )
    if len(data.body_markdown) > BODY_MAX:
        raise DomainError(f"Keep the text to {BODY_MAX:,} characters.", field="body_markdown")
    if data.publish not in PUBLISH_CHOICES:
        raise DomainError("Choose to save a draft, schedule the post or publish it now.",
                          field="publish")
    if data.publish == SCHEDULE:
        if data.publish_at is None:
            raise DomainError("Enter the date and time the embargo ends.", field="publish_at")
        if data.publish_at.tzinfo is None:
            raise ValueError("publish_at must be timezone-aware")
        if data.publish_at <= now:
            raise DomainError(
                "The embargo must end in the future. To make the post public now, choose "
                "“Publish now”.",
                field="publish_at",
            )
    taken = db.session.scalar(
        db.select(Post.id).where(Post.slug == data.slug, Post.id != (post.id if post else -1))
    )
    if taken is not None:
        raise Conflict(f"The address '{data.slug}' is already used by another post.", field="slug")
    ids = list(dict.fromkeys(data.case_ids))
    cases = list(db.session.scalars(
        db.select(RescueCase).where(RescueCase.id.in_(ids)).order_by(RescueCase.id)
    )) if ids else []
    missing = sorted(set(ids) - {c.id for c in cases})
    if missing:
        raise DomainError(
            f"There is no case number {', '.join(map(str, missing))}; choose cases from the list.",
            field="cases",
        )
    return cases


def _snapshot(post: Post) -> dict[str, Any]:
    """The audited state of a post (the body as a length and digest: it may be long)."""
    return {
        "title": post.title,
        "slug": post.slug,
        "kind": post.kind,
        "status": post.status,
        "case_ids": [c.id for c in post.cases],
        "publish_at": as_utc(post.publish_at).isoformat() if post.publish_at else None,
        "published_at": as_utc(post.published_at).isoformat() if post.published_at else None,
        "body": f"{len(post.body_markdown or '')} chars, sha256 "
                f"{hashlib.sha256((post.body_markdown or '').encode()).hexdigest()[:16]}",
    }


def audit_case_id(post: Post) -> int | None:
    """The case an entry is filed under on the audit page: the post's only case, if one."""
    return post.cases[0].id if len(post.cases) == 1 else None


def _set_publication(post: Post, choice: str, publish_at: datetime | None, now: datetime) -> str | None:
    """Apply the publish choice; return "published" or "scheduled" when that just happened."""
    if choice == PUBLISH_NOW:
        if post.status == PUBLISHED:
            return None
        embargo_over = post.status == SCHEDULED and post.publish_at is not None \
            and post.publish_at <= now
        # A post whose embargo already lifted has been public since then.
        post.published_at = post.publish_at if embargo_over else now
        post.publish_at = None
        post.status = PUBLISHED
        return PUBLISHED
    if choice == SCHEDULE:
        changed = post.status != SCHEDULED or post.publish_at != publish_at
        post.status = SCHEDULED
        post.publish_at = publish_at
        post.published_at = None
        return SCHEDULED if changed else None
    post.status = DRAFT
    post.publish_at = None
    post.published_at = None
    return None


def _after_publication(post: Post, happened: str | None) -> None:
    """Audit a publication or a schedule, and send rescue-report news to donors."""
    if happened == PUBLISHED:
        audit.record("post.published", post, case_id=audit_case_id(post),
                     after={"status": post.status,
                            "published_at": as_utc(post.published_at).isoformat()})
        if post.kind == RESCUE_REPORT:
            queue_rescue_report_emails(post)
    elif happened == SCHEDULED:
        audit.record("post.scheduled", post, case_id=audit_case_id(post),
                     after={"status": post.status, "publish_at": as_utc(post.publish_at).isoformat()})


def create_post(data: PostInput, *, author_id: int | None, now: datetime | None = None) -> Post:
    """Write a new post: a draft, scheduled for later, or published now.

    Publishing a rescue report queues the news for the linked cases' donors who asked for it.
    """
    now = now or utcnow()
    cases = _check_input(data, None, now)
    post = Post(
        title=data.title.strip(),
        slug=data.slug,
        kind=data.kind,
        body_markdown=data.body_markdown,
        cases=cases,
        author_id=author_id,
        status=DRAFT,
        created_at=now,
        updated_at=now,
    )
    happened = _set_publication(post, data.publish, data.publish_at, now)
    db.session.add(post)
    db.session.flush()
    audit.record("post.created", post, case_id=audit_case_id(post), after=_snapshot(post))
    _after_publication(post, happened)
    return post


def update_post(post: Post, data: PostInput, *, now: datetime | None = None) -> Post:
    """Edit a post, and publish, schedule or take it back to draft as staff chose.

    Writes "post.updated" with the fields that changed (nothing changed: nothing written),
    then "post.published" or "post.scheduled" when that happened.
    """
    now = now or utcnow()
    # Lock the row (PostgreSQL) so that two staff saving at once apply one after the other.
    db.session.refresh(post, with_for_update=True)
    cases = _check_input(data, post, now)
    before = _snapshot(post)
    post.title = data.title.strip()
    post.slug = data.slug
    post.kind = data.kind
    post.body_markdown = data.body_markdown
    post.cases = cases
    happened = _set_publication(post, data.publish, data.publish_at, now)
    after = _snapshot(post)
    changed = [key for key in after if after[key] != before[key]]
    if not changed:
        return post
    post.updated_at = now
    db.session.flush()
    audit.record("post.updated", post, case_id=audit_case_id(post),
                 before={k: before[k] for k in changed}, after={k: after[k] for k in changed})
    _after_publication(post, happened)
    return post


# --------------------------------------------------------------------------- rescue reports


def _escape_markdown(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>#])", r"\\\1", text)


def _join(words: list[str]) -> str:
    if len(words) <= 2:
        return " and ".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _free_slug(base: str) -> str:
    slug, n = base, 1
    while db.session.scalar(db.select(Post.id).where(Post.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug


def prepare_rescue_report(case: RescueCase) -> Post | None:
    """Draft a rescue report for a case that just completed (everyone rescued).

    Once per case: returns None, creating nothing, when a rescue report linked to the case
    already exists. The draft holds public facts only (how many people, their public aliases)
    and waits for staff to edit and publish it. Flushes; the caller commits.
    """
    exists = db.session.scalar(
        db.select(Post.id)
        .join(post_cases, post_cases.c.post_id == Post.id)
        .where(post_cases.c.case_id == case.id, Post.kind == RESCUE_REPORT)
        .limit(1)
    )
    if exists is not None:
        return None
    aliases = [p.public_alias for p in case.beneficiaries]
    people = "the one person" if len(aliases) == 1 else f"all {len(aliases)} people"
    frame = "Everyone in “{}” is safe"
    room = TITLE_MAX - len(frame.format(""))
    public_title = case.public_title if len(case.public_title) <= room \
        else case.public_title[: room - 1].rstrip() + "…"
    body = (
        f"We are glad to tell you that {people} in this case "
        f"{'has' if len(aliases) == 1 else 'have'} reached safety"
        + (f": {_escape_markdown(_join(aliases))}." if aliases else ".")
        + "\n\nThank you to everyone who gave and shared this appeal. You made this rescue possible.\n"
    )
    now = utcnow()
    post = Post(
        title=frame.format(public_title),
        slug=_free_slug(f"{case.slug}-safe"),
        kind=RESCUE_REPORT,
        body_markdown=body,
        status=DRAFT,
        cases=[case],
        created_at=now,
        updated_at=now,
    )
    db.session.add(post)
    db.session.flush()
    audit.record("post.created", post, case_id=case.id, after={**_snapshot(post), "automatic": True})
    return post


def queue_rescue_report_emails(post: Post) -> int:
    """Queue the news of a published rescue report, once per donor, to everyone who gave a
    recorded gift to one of its (public) cases, asked for updates and left an email address.

    Public facts only: the post's title and link, the case's public title, a thank-you.
    Idempotent (the outbox refuses a second message with the same key); returns how many
    messages were queued now. Needs a request context or SERVER_NAME for the link.
    """
    cases = {c.id: c for c in post.cases if c.status in workflow.PUBLIC_STATUSES}
    if not cases:
        return 0
    rows = db.session.execute(
        db.select(Donor.id, Donor.email, Donation.case_id)
        .join(Donation, Donation.donor_id == Donor.id)
        .where(
            Donation.case_id.in_(list(cases)),
            Donation.status == SUCCEEDED,
            Donation.wants_updates.is_(True),
            Donor.email.is_not(None),
            Donor.email != "",
        )
        .distinct()
        .order_by(Donor.id, Donation.case_id)
    )
    donors: dict[int, tuple[str, list[str]]] = {}
    for donor_id, email, case_id in rows:
        donors.setdefault(donor_id, (email, []))[1].append(cases[case_id].public_title)
    if not donors:
        return 0
    link = url_for("posts.show", slug=post.slug, _external=True)
    subject = f"Rescue report: {post.title}"[:200]
    queued = 0
    for donor_id, (email, titles) in donors.items():
        body = (
            f"Thank you for your gift to {_join([f'“{t}”' for t in titles])}.\n\n"
            f"We have just published a rescue report: {post.title}\n"
            f"Read it here: {link}\n\n"
            "You asked us to tell you when the people in this case are safe. Your gift helped "
            "make this possible. Thank you.\n"
        )
        message = outbox.queue("rescue-report", f"rescue-report:{post.id}:{donor_id}", email,
                               subject, body)
        queued += message is not None
    return queued
