"""Donors, donations and the append-only ledger that every total is summed from."""
