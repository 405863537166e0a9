"""Funding reports for directors, and the public yearly figures."""
