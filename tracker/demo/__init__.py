"""Demo data: ``flask seed-demo`` (``cli``) and the bulk loader for a million gifts (``bulk``).

Above every domain: it writes through their services, and its bulk ledger rows through
``tracker.ledger.book``.
"""
