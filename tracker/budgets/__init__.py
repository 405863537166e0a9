"""Budgets and disbursements: where a case's money goes."""
