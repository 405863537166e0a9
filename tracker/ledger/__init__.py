"""The ledger: every money movement, append-only, and every total as a sum of it.

* ``models``: the entry and its kinds (with the sign each kind's amount must have);
* ``book``: the only functions that write entries, from plain values;
* ``reads``: the sums pages and services read (money by case, a gift's money, year totals);
* ``rollups``: monthly totals the database keeps from the entries by trigger;
* ``guard``: the database triggers that refuse UPDATE and DELETE.

Depends on ``tracker.core`` alone; every domain that moves money depends on it.
"""
