"""Post rules: writing, scheduling and publishing posts; what the public may read, and when.

Services take plain values (never a request or a form), raise DomainError naming the field at
fault, ``flush()`` and write audit entries; the caller commits once. Every change bumps
``Post.updated_at``: the public case page's cache is keyed on it.

A post is written in one language (``Post.language``) and may have a version in the other
(a PostTranslation: its own title and Markdown body, nothing else). Staff write both on the
same form: a version is both a title and a text, or nothing; saving the form with both empty
removes it. Error messages are written in the language of the request (gettext); rescue-report
emails in each donor's language (``tracker.core.i18n.language``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import format_number
from flask_babel import gettext as _
from sqlalchemy import and_, or_
from sqlalchemy.orm import selectinload

from tracker import audit
from tracker.cases import follows
from tracker.cases import signals as case_signals
from tracker.cases.follows import CaseFollow
from tracker.cases.models import RescueCase
from tracker.core import faces, labels
from tracker.core.errors import Conflict, DomainError
from tracker.core.i18n import current_locale, default_locale, known, language
from tracker.core.links import public_url
from tracker.core.time import as_utc, utcnow
from tracker.donations.models import SUCCEEDED, Donation, Donor
from tracker.extensions import db
from tracker.mail import outbox
from tracker.posts.models import (
    DRAFT,
    KIND_LABELS,
    KINDS,
    POST_LANGUAGES,
    PUBLISHED,
    SCHEDULED,
    Post,
    PostImage,
    PostTranslation,
    other_language,
    post_cases,
)

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_MIN, SLUG_MAX = 3, 120
TITLE_MAX = 200
BODY_MAX = 100_000
#: what staff may do with a post when saving it
SAVE_DRAFT, SCHEDULE, PUBLISH_NOW = "draft", "schedule", "publish"
PUBLISH_CHOICES: tuple[str, ...] = (SAVE_DRAFT, SCHEDULE, PUBLISH_NOW)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: control characters a Markdown text may not hold (tab and line breaks are text)
_BODY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

RESCUE_REPORT = "rescue_report"
UPDATE = "update"


# --------------------------------------------------------------------------- public reading


def _visible_now():
    now = utcnow()
    return or_(
        Post.status == PUBLISHED,
        and_(Post.status == SCHEDULED, Post.publish_at <= now),
    )


def visible_posts_for_case(case: RescueCase, limit: int = 20) -> list[Post]:
    """Posts linked to a case that the public may read now, newest first (with their versions
    in other languages: show ``post.in_language(current_locale())``)."""
    return list(
        db.session.scalars(
            db.select(Post)
            .options(selectinload(Post.translations))  # pages show each in the reader's language
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
            .options(selectinload(Post.translations))
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
    """Every post, whatever its status, newest first, with its cases and versions loaded."""
    return list(db.session.scalars(
        db.select(Post).options(selectinload(Post.cases), selectinload(Post.translations))
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
    return {case_id: _("%(title)s (%(status)s)", title=title, status=labels.label("case_status", status))
            for case_id, title, status in rows}


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
    #: the language title and body are written in ("en" or "ja")
    language: str = "en"
    #: the version in the other language: both or neither (both empty: no version, and
    #: saving removes the one the post had)
    other_title: str = ""
    other_body: str = ""


def _check_title(title: str, field: str) -> None:
    if len(title) > TITLE_MAX:
        raise DomainError(_("Keep the title to %(max)d characters.", max=TITLE_MAX), field=field)
    if _CONTROL.search(title):
        raise DomainError(_("Write the title on one line."), field=field)


def _check_body(body: str, field: str) -> None:
    if len(body) > BODY_MAX:
        raise DomainError(_("Keep the text to %(max)s characters.", max=format_number(BODY_MAX)),
                          field=field)


def _check_version(data: PostInput) -> tuple[str, str] | None:
    """The version in the other language as (title, body), None for no version; refuses a
    half-written one (a title without a text, or a text without a title)."""
    title = data.other_title.strip()
    has_body = bool(data.other_body.strip())
    if not title and not has_body:
        return None
    if not title:
        raise DomainError(_("Give this version a title too, or leave both its title and text "
                            "empty."), field="other_title")
    if not has_body:
        raise DomainError(_("Write this version's text too, or leave both its title and text "
                            "empty."), field="other_body")
    _check_title(title, "other_title")
    _check_body(data.other_body, "other_body")
    if _BODY_CONTROL.search(data.other_body):
        raise DomainError(_("Remove the control characters from the text."), field="other_body")
    return title, data.other_body


def _check_input(data: PostInput, post: Post | None,
                 now: datetime) -> tuple[list[RescueCase], tuple[str, str] | None]:
    """Check everything before changing anything; return the cases to link and the version
    in the other language (title, body) or None."""
    title = data.title.strip()
    if not title:
        raise DomainError(_("Give the post a title."), field="title")
    _check_title(title, "title")
    if not SLUG_MIN <= len(data.slug) <= SLUG_MAX or not SLUG_RE.match(data.slug):
        raise DomainError(
            _("Use %(min)d to %(max)d lower-case letters, digits and single hyphens, "
              "like 'six-survivors-appeal'.", min=SLUG_MIN, max=SLUG_MAX),
            field="slug",
        )
    if data.kind not in KINDS:
        raise DomainError(
            _("Choose what the post is: %(kinds)s.",
              kinds=_list([str(KIND_LABELS[k]).lower() for k in KINDS])),
            field="kind",
        )
    _check_body(data.body_markdown, "body_markdown")
    if data.language not in POST_LANGUAGES:
        raise DomainError(_("Choose the language the post is written in."), field="language")
    version = _check_version(data)
    if data.publish not in PUBLISH_CHOICES:
        raise DomainError(_("Choose to save a draft, schedule the post or publish it now."),
                          field="publish")
    if data.publish == SCHEDULE:
        if data.publish_at is None:
            raise DomainError(_("Enter the date and time the embargo ends."), field="publish_at")
        if data.publish_at.tzinfo is None:
            raise ValueError("publish_at must be timezone-aware")
        if data.publish_at <= now:
            raise DomainError(
                _("The embargo must end in the future. To make the post public now, choose "
                  "“Publish now”."),
                field="publish_at",
            )
    taken = db.session.scalar(
        db.select(Post.id).where(Post.slug == data.slug, Post.id != (post.id if post else -1))
    )
    if taken is not None:
        raise Conflict(_("The address '%(slug)s' is already used by another post.", slug=data.slug),
                       field="slug")
    ids = list(dict.fromkeys(data.case_ids))
    cases = list(db.session.scalars(
        db.select(RescueCase).where(RescueCase.id.in_(ids)).order_by(RescueCase.id)
    )) if ids else []
    missing = sorted(set(ids) - {c.id for c in cases})
    if missing:
        raise DomainError(
            _("There is no case number %(numbers)s; choose cases from the list.",
              numbers=", ".join(map(str, missing))),
            field="cases",
        )
    private = [c for c in cases if not c.is_public]
    if data.kind == RESCUE_REPORT and data.publish != SAVE_DRAFT and private:
        # A rescue report names the case and its people: it goes out only about a public case.
        raise Conflict(
            _("A rescue report about a case that is not public stays a draft; publish the case "
              "“%(title)s” first.", title=private[0].public_title),
            field="publish",
        )
    return cases, version


def set_version(post: Post, version: tuple[str, str] | None, now: datetime | None = None) -> bool:
    """Make ``version`` (title, body) the post's version in its other language, or remove
    that version (None). A version in the post's own language (left over when staff switched
    the post's language) goes. Checks nothing: the services and the demo data call it with
    checked values. Returns whether anything changed; the caller bumps ``updated_at`` and
    audits."""
    now = now or utcnow()
    target = other_language(post.language)
    existing = None
    changed = False
    for found in list(post.translations):
        if found.language == target and version is not None and existing is None:
            existing = found
        else:
            post.translations.remove(found)
            changed = True
    if version is None:
        return changed
    title, body = version
    if existing is None:
        post.translations.append(PostTranslation(language=target, title=title, body_markdown=body,
                                                 updated_at=now))
        return True
    if (existing.title, existing.body_markdown) != (title, body):
        existing.title, existing.body_markdown, existing.updated_at = title, body, now
        return True
    return changed


def _digest(body: str | None) -> str:
    body = body or ""
    return f"{len(body)} chars, sha256 {hashlib.sha256(body.encode()).hexdigest()[:16]}"


def _snapshot(post: Post) -> dict[str, Any]:
    """The audited state of a post (bodies as a length and digest: they may be long), its
    version in the other language included (None when it has none)."""
    versions = [t for t in post.translations if t.language != post.language]
    return {
        "title": post.title,
        "slug": post.slug,
        "kind": post.kind,
        "status": post.status,
        "case_ids": [c.id for c in post.cases],
        "publish_at": as_utc(post.publish_at).isoformat() if post.publish_at else None,
        "published_at": as_utc(post.published_at).isoformat() if post.published_at else None,
        "body": _digest(post.body_markdown),
        "language": post.language or "en",
        "version": {"language": versions[0].language, "title": versions[0].title,
                    "body": _digest(versions[0].body_markdown)} if versions else None,
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
        if post.kind in FOLLOWER_KINDS:
            queue_post_emails(post)
    elif happened == SCHEDULED:
        audit.record("post.scheduled", post, case_id=audit_case_id(post),
                     after={"status": post.status, "publish_at": as_utc(post.publish_at).isoformat()})


def create_post(data: PostInput, *, author_id: int | None, now: datetime | None = None) -> Post:
    """Write a new post: a draft, scheduled for later, or published now.

    Publishing a rescue report queues the news for the linked cases' donors who asked for it.
    """
    now = now or utcnow()
    cases, version = _check_input(data, None, now)
    post = Post(
        title=data.title.strip(),
        slug=data.slug,
        kind=data.kind,
        language=data.language,
        body_markdown=data.body_markdown,
        cases=cases,
        author_id=author_id,
        status=DRAFT,
        created_at=now,
        updated_at=now,
    )
    set_version(post, version, now)
    happened = _set_publication(post, data.publish, data.publish_at, now)
    db.session.add(post)
    db.session.flush()
    audit.record("post.created", post, case_id=audit_case_id(post), after=_snapshot(post))
    _after_publication(post, happened)
    return post


def _refuse_held_photos(post: Post) -> None:
    """A post cannot be published or scheduled while one of its photos waits for review (a
    face was found, or nobody has looked at it yet)."""
    waiting = set(db.session.scalars(
        db.select(PostImage.face_status)
        .where(PostImage.post_id == post.id, PostImage.face_status.in_(faces.AWAITING))))
    if faces.HELD in waiting:
        raise Conflict(_("A photo of this post shows a face and is held. Under “Photos”, blur "
                         "the faces or confirm that the person agreed, then publish."),
                       field="publish")
    if waiting:
        raise Conflict(_("A photo of this post has not been reviewed yet. Under “Photos”, look "
                         "at it and confirm that no person can be recognized (or blur an area), "
                         "then publish."), field="publish")


def update_post(post: Post, data: PostInput, *, now: datetime | None = None) -> Post:
    """Edit a post, and publish, schedule or take it back to draft as staff chose.

    Writes "post.updated" with the fields that changed (nothing changed: nothing written),
    then "post.published" or "post.scheduled" when that happened. The version in the other
    language is set from ``other_title`` and ``other_body``: both empty removes it.
    """
    now = now or utcnow()
    # Lock the row (PostgreSQL) so that two staff saving at once apply one after the other.
    db.session.refresh(post, with_for_update=True)
    cases, version = _check_input(data, post, now)
    if data.publish in (PUBLISH_NOW, SCHEDULE):
        _refuse_held_photos(post)
    before = _snapshot(post)
    post.title = data.title.strip()
    post.slug = data.slug
    post.kind = data.kind
    post.language = data.language
    post.body_markdown = data.body_markdown
    post.cases = cases
    set_version(post, version, now)
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


def _list(words: list[str]) -> str:
    """Words as a list in the current language: "a, b, c" (「a、b、c」)."""
    joined = words[0] if words else ""
    for word in words[1:]:
        joined = _("%(list)s, %(item)s", list=joined, item=word)
    return joined


def _join(words: list[str]) -> str:
    """Words joined in the current language: "a and b", "a, b and c" (「aとb」)."""
    if len(words) <= 1:
        return "".join(words)
    return _("%(list)s and %(last)s", list=_list(words[:-1]), last=words[-1])


def _quoted(text: str) -> str:
    return _("“%(text)s”", text=text)


def _one_stop(sentence: str, names: str) -> str:
    """The sentence with one full stop when the names it ends with already end with one
    ("Mr. Y.Y." ends "…safety: Mr. Y.Y.", not "Mr. Y.Y.."). Other endings stay as they are."""
    if names.endswith(".") and sentence.endswith(names + "."):
        return sentence[:-1]
    return sentence


def _free_slug(base: str) -> str:
    slug, n = base, 1
    while db.session.scalar(db.select(Post.id).where(Post.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug


@case_signals.rescue_completed.connect
def prepare_rescue_report(case: RescueCase) -> Post | None:
    """Draft a rescue report for a case that just completed (everyone rescued).

    Once per case: returns None, creating nothing, when a rescue report linked to the case
    already exists. The draft holds public facts only (how many people, their public aliases)
    and waits for staff to edit and publish it. It is written in the default language, with a
    version in the other one (whatever language the staff member who completed the case
    reads). Flushes; the caller commits.
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
    main = default_locale() if default_locale() in POST_LANGUAGES else POST_LANGUAGES[0]
    with language(main):
        title, body = _rescue_report_text(case, aliases)
    with language(other_language(main)):
        version = _rescue_report_text(case, aliases)
    now = utcnow()
    post = Post(
        title=title,
        slug=_free_slug(f"{case.slug}-safe"),
        kind=RESCUE_REPORT,
        language=main,
        body_markdown=body,
        status=DRAFT,
        cases=[case],
        created_at=now,
        updated_at=now,
    )
    set_version(post, version, now)
    db.session.add(post)
    db.session.flush()
    audit.record("post.created", post, case_id=case.id, after={**_snapshot(post), "automatic": True})
    return post


@case_signals.case_unpublished.connect
def withdraw_rescue_reports(case: RescueCase, *, now: datetime | None = None) -> list[Post]:
    """Take every published or scheduled rescue report about ``case`` back to draft (the
    case was pulled back from the public); audited "post.withdrawn". Flushes; returns them."""
    now = now or utcnow()
    posts = list(db.session.scalars(
        db.select(Post)
        .join(post_cases, post_cases.c.post_id == Post.id)
        .where(post_cases.c.case_id == case.id, Post.kind == RESCUE_REPORT, Post.status != DRAFT)
        .order_by(Post.id)
    ))
    for post in posts:
        before = {"status": post.status}
        _set_publication(post, SAVE_DRAFT, None, now)
        post.updated_at = now
        audit.record("post.withdrawn", post, case_id=case.id, before=before,
                     after={"status": post.status, "reason": "case.unpublished"})
    db.session.flush()
    return posts


def _rescue_report_text(case: RescueCase, aliases: list[str]) -> tuple[str, str]:
    """The draft report's title and body in the current language (public facts only)."""
    frame = _("Everyone in “%(title)s” is safe", title="")
    room = TITLE_MAX - len(frame)
    case_title = case.text(current_locale()).title
    public_title = case_title if len(case_title) <= room else case_title[: room - 1].rstrip() + "…"
    title = _("Everyone in “%(title)s” is safe", title=public_title)
    # Two sentences rather than ngettext: "the one person" is not "%(num)d people" in English,
    # and Japanese counts people the same way whatever their number.
    if len(aliases) == 1:
        names = _escape_markdown(aliases[0])
        safe = _one_stop(_("We are glad to tell you that the one person in this case has reached "
                           "safety: %(names)s.", names=names), names)
    elif aliases:
        names = _escape_markdown(_join(aliases))
        safe = _one_stop(_("We are glad to tell you that all %(num)d people in this case have "
                           "reached safety: %(names)s.", num=len(aliases), names=names), names)
    else:
        safe = _("We are glad to tell you that all %(num)d people in this case have reached "
                 "safety.", num=0)
    body = (safe + "\n\n"
            + _("Thank you to everyone who gave and shared this appeal. You made this rescue "
                "possible.") + "\n")
    return title, body


#: the kinds of post whose publication is mailed to a case's confirmed followers
FOLLOWER_KINDS: frozenset[str] = frozenset({RESCUE_REPORT, UPDATE})


@dataclass(slots=True)
class _Reader:
    """One address a published post is mailed to: a donor who asked for news (rescue
    reports), a confirmed follower (updates and rescue reports), or both."""

    email: str
    locale: str | None
    #: the outbox key: one message per post and reader, whoever queues it again
    key: str
    #: the post's cases this reader gave to (a donor)
    gave_to: list[RescueCase] = field(default_factory=list)
    #: the post's cases this reader follows (named in the reader's language in the mail)
    follows: list[RescueCase] = field(default_factory=list)
    #: the follow whose one-click unsubscribe the mail carries (a follower)
    follow: CaseFollow | None = None


def _readers(post: Post, cases: dict[int, RescueCase]) -> list[_Reader]:
    """Who hears of ``post``: donors of its cases who asked for news of a rescue report,
    and the confirmed followers of its cases for an update or a rescue report; one reader
    per address (a donor who also follows hears once)."""
    readers: dict[str, _Reader] = {}
    if post.kind == RESCUE_REPORT:
        rows = db.session.execute(
            db.select(Donor.id, Donor.email, Donor.locale, Donation.case_id)
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
        for donor_id, email, locale, case_id in rows:
            reader = readers.setdefault(email.lower(), _Reader(
                email, known(locale), f"rescue-report:{post.id}:{donor_id}"))
            reader.gave_to.append(cases[case_id])
    if post.kind in FOLLOWER_KINDS:
        for follow in follows.confirmed_followers(list(cases)):
            reader = readers.setdefault(follow.email.lower(), _Reader(
                follow.email, known(follow.locale), f"post-news:{post.id}:follow:{follow.id}"))
            reader.follows.append(cases[follow.case_id])
            reader.follow = reader.follow or follow
    return list(readers.values())


def _news_mail(post: Post, reader: _Reader) -> tuple[str, str]:
    """The subject and body of the mail about ``post`` to ``reader``, in the reader's
    language (the current one): public facts only."""
    code = current_locale()
    version = post.in_language(code)
    link = public_url("posts.show", slug=post.slug,
                      **({"lang": current_locale()} if reader.locale else {}))
    if post.kind == RESCUE_REPORT:
        subject = _("Rescue report: %(title)s", title=version.title)
        news = _("We have just published a rescue report: %(title)s", title=version.title)
    else:
        subject = _("Update: %(title)s", title=version.title)
        news = _("We have just published an update: %(title)s", title=version.title)
    lines = []
    if reader.gave_to:
        lines.append(_("Thank you for your gift to %(cases)s.",
                       cases=_join([_quoted(c.text(code).title) for c in reader.gave_to])) + "\n")
    elif reader.follows:
        lines.append(_("You follow the rescue %(cases)s on our site.",
                       cases=_join([_quoted(c.text(code).title) for c in reader.follows])) + "\n")
    lines.append(news + "\n" + _("Read it here: %(link)s", link=link) + "\n")
    if reader.gave_to:
        lines.append(_("You asked us to tell you when the people in this case are safe. Your gift "
                       "helped make this possible. Thank you.") + "\n")
    if reader.follow is not None:
        lines.append(_("To stop receiving news of this rescue, open this link: %(link)s",
                       link=follows.unsubscribe_url(reader.follow, code)) + "\n")
    return subject[:200], "\n".join(lines)


def queue_post_emails(post: Post) -> int:
    """Queue the news of a published post to everyone who asked for it, once per address:
    for a rescue report, everyone who gave a recorded gift to one of its (public) cases,
    asked for updates and left an email address; for an update or a rescue report, every
    confirmed follower of those cases (``tracker.cases.follows``), whose mail carries a
    one-click unsubscribe (``List-Unsubscribe``, RFC 8058) in its headers and its text.

    Public facts only: the post's title and link, the cases' public titles, a thank-you.
    Each message is written in the reader's language (the default language when unknown),
    with the post's version in that language when it has one. Idempotent (the outbox refuses
    a second message with the same key); returns how many messages were queued now. Links
    are on TRACKER_PUBLIC_URL (``tracker.core.links``).
    """
    cases = {c.id: c for c in post.cases if c.is_public}
    if not cases:
        return 0
    queued = 0
    for reader in _readers(post, cases):
        with language(reader.locale) as code:
            subject, body = _news_mail(post, reader)
        headers = (follows.unsubscribe_headers(reader.follow, code)
                   if reader.follow is not None else None)
        kind = "rescue-report" if post.kind == RESCUE_REPORT else "case-update"
        message = outbox.queue(kind, reader.key, reader.email, subject, body, locale=code,
                               headers=headers)
        queued += message is not None
    return queued


def queue_rescue_report_emails(post: Post) -> int:
    """The news of a published rescue report (``queue_post_emails``)."""
    return queue_post_emails(post)
