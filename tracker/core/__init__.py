"""Pieces every domain uses: money, errors, access rules, time and audit."""
