"""The case status workflow: an explicit transition table.

A journey case goes requested → fundraising → in_progress → rescued. A legal case (a
deportation hearing, refugee status pending) sits in ``legal_action`` until it ends in safety
(``rescued``), a journey (``in_progress``) or closure. ``on_hold`` pauses any open case, and
``closed`` ends one with an outcome. ``rescued`` is entered only when every person in the case
is rescued; that rule is checked by the service, not here.
"""

from __future__ import annotations

from flask_babel import gettext as _

from tracker.core import labels
from tracker.core.errors import IllegalTransition

REQUESTED = "requested"
FUNDRAISING = "fundraising"
IN_PROGRESS = "in_progress"
LEGAL_ACTION = "legal_action"
ON_HOLD = "on_hold"
RESCUED = "rescued"
CLOSED = "closed"

STATUSES: tuple[str, ...] = (
    REQUESTED, FUNDRAISING, IN_PROGRESS, LEGAL_ACTION, ON_HOLD, RESCUED, CLOSED,
)

#: status -> its label in the page's language (lazy: looked up when shown)
LABELS: dict[str, str] = labels.table("case_status")  # type: ignore[assignment]

#: status -> statuses it may move to
TRANSITIONS: dict[str, frozenset[str]] = {
    REQUESTED: frozenset({FUNDRAISING, LEGAL_ACTION, ON_HOLD, CLOSED}),
    FUNDRAISING: frozenset({IN_PROGRESS, LEGAL_ACTION, ON_HOLD, RESCUED, CLOSED}),
    IN_PROGRESS: frozenset({RESCUED, ON_HOLD, CLOSED}),
    LEGAL_ACTION: frozenset({IN_PROGRESS, RESCUED, ON_HOLD, CLOSED}),
    ON_HOLD: frozenset({FUNDRAISING, IN_PROGRESS, LEGAL_ACTION, CLOSED}),
    RESCUED: frozenset(),
    CLOSED: frozenset(),
}

#: why a case may close
OUTCOMES: tuple[str, ...] = ("cancelled", "failed", "deported", "lost_contact", "merged", "other")
#: outcome -> its label in a form's choices ("Lost contact")
OUTCOME_LABELS: dict[str, str] = labels.table("outcome")  # type: ignore[assignment]

#: moving into one of these publishes a case the first time (an appeal or a legal fight goes
#: public on purpose); no other transition ever does. Being public is RescueCase.is_public
#: (its own recorded fact, published_at), never a status.
PUBLISHING_STATUSES = frozenset({FUNDRAISING, LEGAL_ACTION})
#: statuses of a case that is still being worked on
OPEN_STATUSES = frozenset({FUNDRAISING, IN_PROGRESS, LEGAL_ACTION, ON_HOLD})
#: statuses in which people may be marked rescued
RESCUE_STATUSES = frozenset({FUNDRAISING, IN_PROGRESS, LEGAL_ACTION})


def allowed_targets(status: str) -> frozenset[str]:
    """The statuses a case in ``status`` may move to (for offering buttons)."""
    return TRANSITIONS.get(status, frozenset())


def check_transition(current: str, target: str) -> None:
    """Raise IllegalTransition with a clear sentence unless ``current`` → ``target`` is allowed."""
    if target not in TRANSITIONS:
        raise IllegalTransition(_("'%(status)s' is not a case status.", status=target),
                                field="status")
    if target == current:
        raise IllegalTransition(_("The case is already %(status)s.", status=LABELS[current].lower()),
                                field="status")
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(LABELS[s].lower() for s in sorted(TRANSITIONS[current])) or _("nothing")
        raise IllegalTransition(
            _("A case that is %(current)s cannot become %(target)s; it can become: %(allowed)s.",
              current=LABELS[current].lower(), target=LABELS[target].lower(), allowed=allowed),
            field="status",
        )

