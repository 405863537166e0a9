"""The audit trail: who did what, when, with the state before and after.

Entries are written in the same transaction as the change they describe, so an action and
its audit entry are committed together or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.core.time import utcnow
from tracker.core.types import UTCDateTime
from tracker.extensions import db

if TYPE_CHECKING:
    from tracker.accounts.models import User


class AuditEntry(db.Model):
    """One audited action. Never updated or deleted by the application."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_case_created", "case_id", "created_at"),
        Index("ix_audit_entries_action_created", "action", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: when it happened (UTC)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    #: the signed-in user who did it; NULL for the command line or the system
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: a readable actor for CLI and system actions ("cli", "system", "webhook")
    actor_label: Mapped[str] = mapped_column(String(120))
    #: dotted action name, e.g. "case.status", "beneficiary.rescued", "user.login"
    action: Mapped[str] = mapped_column(String(64))
    #: what was acted on: table-ish name and primary key
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int | None]
    #: the case concerned, for the per-case filter of the audit page
    case_id: Mapped[int | None] = mapped_column(ForeignKey("rescue_cases.id", ondelete="SET NULL"))
    #: state before and after (staff-only; may name private fields, never shown publicly)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: the client address for request-driven actions
    ip: Mapped[str | None] = mapped_column(String(64))


def _current_actor() -> tuple[User | None, str]:
    if has_request_context() and current_user and current_user.is_authenticated:
        return current_user._get_current_object(), current_user.email  # type: ignore[attr-defined]
    return None, "cli" if not has_request_context() else "anonymous"


def record(
    action: str,
    obj: Any,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    case_id: int | None = None,
    actor: User | None = None,
    actor_label: str | None = None,
) -> AuditEntry:
    """Add an audit entry for ``action`` on ``obj`` to the session (written with the next
    flush or the commit, in the same transaction as the change it describes)."""
    default_actor, default_label = _current_actor()
    actor = actor if actor is not None else default_actor
    label = actor_label or (actor.email if actor is not None else default_label)
    entry = AuditEntry(
        actor_id=actor.id if actor is not None else None,
        actor_label=label,
        action=action,
        # a model instance, or a table name for an action on a whole list
        object_type=obj if isinstance(obj, str) else getattr(obj, "__tablename__", type(obj).__name__),
        object_id=None if isinstance(obj, str) else getattr(obj, "id", None),
        case_id=case_id,
        before=before,
        after=after,
        ip=request.remote_addr if has_request_context() else None,
    )
    db.session.add(entry)
    return entry
