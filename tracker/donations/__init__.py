"""Gifts: the donor and donation rows, starting a gift, recording what the gateway reports
(``recording``: payments, refunds, disputes; ``flask stripe reconcile``), receipts,
corrections, offline gifts and the staff's gift desk. Money itself is written by
``tracker.ledger``."""
