"""The case status workflow: an explicit transition table.

A journey case goes requested → fundraising → in_progress → rescued. A legal case (a
deportation hearing, refugee status pending) sits in ``legal_action`` until it ends in safety
(``rescued``), a journey (``in_progress``) or closure. ``on_hold`` pauses any open case, and
``closed`` ends one with an outcome. ``rescued`` is entered only when every person in the case
is rescued; that rule is checked by the service, not here.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

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
LABELS: dict[str, str] = {
    REQUESTED: _l("Request received"),
    FUNDRAISING: _l("Fundraising"),
    IN_PROGRESS: _l("Rescue under way"),
    LEGAL_ACTION: _l("Legal action"),
    ON_HOLD: _l("On hold"),
    RESCUED: _l("Rescued"),
    CLOSED: _l("Closed"),
}

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
OUTCOME_LABELS: dict[str, str] = {
    "cancelled": _l("Cancelled"), "failed": _l("Failed"), "deported": _l("Deported"),
    "lost_contact": _l("Lost contact"), "merged": _l("Merged"), "other": _l("Other"),
}
#: outcome -> how a staff page names it next to the status (the code, in English)
OUTCOME_NAMES: dict[str, str] = {
    "cancelled": _l("cancelled"), "failed": _l("failed"), "deported": _l("deported"),
    "lost_contact": _l("lost_contact"), "merged": _l("merged"), "other": _l("other"),
}

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

