"""What happens to a case that other domains react to, as Flask (blinker) signals.

``cases`` sits below ``posts`` and ``budgets`` (they link to cases), so it cannot call them;
instead it says what happened and they subscribe, as Indico's modules do with its signals:

* ``rescue_completed``: the last person of a case was marked rescued (``posts`` drafts the
  rescue report);
* ``case_unpublished``: staff pulled a case back from the public (``posts`` takes its rescue
  reports back to draft); keyword ``now``;
* ``count_waiting_payments``: asked before closing; each receiver returns how many of the
  case's payments out still wait for a decision (``budgets``), keyword ``case_id``.

Receivers run in the sender's transaction; an exception in one undoes the whole action.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

rescue_completed = _signals.signal("rescue-completed")
case_unpublished = _signals.signal("case-unpublished")
count_waiting_payments = _signals.signal("count-waiting-payments")
