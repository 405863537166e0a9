"""Helpers shared by every form."""

from __future__ import annotations

from flask_wtf import FlaskForm

from tracker.core.errors import DomainError


def apply_error(form: FlaskForm, exc: DomainError) -> None:
    """Show a service's refusal at the field it names, or at the top of the form."""
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None and hasattr(field, "errors"):
        field.errors = [*list(field.errors), exc.reason]
    else:
        form.form_errors.append(exc.reason)
