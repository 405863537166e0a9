"""The organization's face: its about, contact and privacy pages, its logo, and the admin's
pages where its identity and those pages are edited (every change audited).

It sits in the site layer because it assembles the organization's stored identity
(``tracker.organization``) with the audit trail and the mail outbox. Page text is Markdown,
rendered and sanitized by the same filter as posts (``web.templating.render_markdown``).
"""

from __future__ import annotations

import secrets
from email.utils import parseaddr

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf

from tracker import audit
from tracker.core.access import public, roles
from tracker.core.errors import DomainError
from tracker.core.forms import apply_error
from tracker.core.i18n import current_locale, language
from tracker.core.images import read_upload
from tracker.core.transactions import transaction
from tracker.core.validation import normalize_email
from tracker.mail import outbox
from tracker.organization import services
from tracker.organization.forms import ContactForm, IdentityForm, PageForm
from tracker.organization.identity import current_identity
from tracker.organization.models import PAGE_SLUGS
from tracker.web import pagecache

bp = Blueprint("organization", __name__)

#: a logo never changes under its random name
LOGO_CACHE = "public, max-age=31536000, immutable"
#: each page's heading, in the reader's language
PAGE_TITLES = {
    "about": _l("About us"),
    "contact": _l("Contact us"),
    "privacy": _l("Privacy policy"),
}
#: the outbox kind of a contact-form message
CONTACT_KIND = "contact"


# --- public pages ----------------------------------------------------------------------------


def _page_context(slug: str) -> dict:
    locale = current_locale()
    found = services.page_in(slug, locale)
    return {"slug": slug, "title": PAGE_TITLES[slug], "page_language": locale,
            "text_language": found[0] if found else locale, "text": found[1] if found else None}


def _render_page(slug: str) -> str:
    return render_template("organization/page.html", **_page_context(slug))


def _static_page(slug: str) -> Response:
    # The fingerprint of every HTML page carries the organization's version, which every saved
    # change of the identity or of a page bumps: nothing else to read here.
    return pagecache.serve(("organization", slug), lambda: (slug,), lambda: _render_page(slug))


@bp.route("/about")
@public
def about():
    """Who the organization is, in the reader's language (or the other one, with a note)."""
    return _static_page("about")


@bp.route("/privacy")
@public
def privacy():
    """What the organization keeps about donors and visitors, and why."""
    return _static_page("privacy")


def _render_contact(form: ContactForm) -> str:
    return render_template("organization/contact.html", form=form, **_page_context("contact"))


def send_contact_message(name: str, email: str, message: str) -> None:
    """Queue a visitor's message to the organization's contact address (its sender address
    while none is set), in the caller's transaction. The visitor's address goes only into
    that mail, never onto a page. DomainError("email") for an address that is not one."""
    try:
        reply_to = normalize_email(email, "email")
    except DomainError:
        raise DomainError(_("Enter an email address like name@example.org."), field="email") from None
    identity = current_identity()
    to = identity.contact_email or identity.sender_email or _mail_from_address()
    name = " ".join(name.split())
    page_language = current_locale()
    with language(None) as code:
        subject = _("Contact form: a message from %(name)s", name=name)[:200]
        body = "\n".join([
            _("A message was sent with the contact form of the website."),
            "",
            _("Name: %(name)s", name=name),
            _("Email: %(address)s", address=reply_to),
            _("Language of the page: %(language)s", language=page_language),
            "",
            message.strip(),
            "",
        ])
    # Reply-To: the organization's answer goes to the visitor, not to its own sender address
    outbox.queue(CONTACT_KIND, f"{CONTACT_KIND}:{secrets.token_hex(16)}", to, subject, body,
                 locale=code, headers={"Reply-To": reply_to})


def _mail_from_address() -> str:
    return parseaddr(current_app.config.get("MAIL_FROM") or "")[1] or "no-reply@localhost"


@bp.route("/contact", methods=["GET", "POST"])
@public
def contact():
    """The contact page: its text and a form whose message goes to the organization's contact
    address through the outbox (rate limited per client address: TRACKER_RATELIMIT_CONTACT)."""
    if request.method == "GET":
        return pagecache.serve_form(("organization", "contact"), lambda: ("contact",),
                                    lambda: _render_contact(ContactForm()), generate_csrf)
    form = ContactForm()
    if form.validate_on_submit():
        try:
            with transaction():
                send_contact_message(form.name.data, form.email.data, form.message.data)
        except DomainError as exc:
            apply_error(form, exc)
        else:
            flash(_("Thank you. Your message has been sent; we will reply by email."), "success")
            return redirect(url_for("organization.contact"))
    return _render_contact(form), 422


@bp.route("/organization/logo/<name>")
@public
def logo(name: str):
    """The organization's logo by its random name; a replaced logo's old name is a 404."""
    found = services.logo(name)
    if found is None:
        abort(404)
    response = Response(found.data, mimetype=found.content_type)
    response.headers["Cache-Control"] = LOGO_CACHE
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# --- the admin's pages -----------------------------------------------------------------------


def _render_identity(form: IdentityForm, code: int = 200):
    return render_template("staff/organization.html", form=form, identity=current_identity(),
                           pages=[(slug, PAGE_TITLES[slug]) for slug in PAGE_SLUGS]), code


@bp.route("/staff/organization", methods=["GET", "POST"])
@roles("admin")
def identity():
    """The organization's identity (admins only): names, address, registration, the addresses
    mail uses, the logo. Every saved change is audited."""
    if request.method == "GET":
        return _render_identity(IdentityForm(data=services.identity_form_data()))
    form = IdentityForm()
    if not form.validate_on_submit():
        # the service's checks too, on the fields the form let through: every error at once
        if form.is_submitted():
            refused = {name for name, field in form._fields.items() if field.errors}
            for name, reason in services.check_identity(form.to_input(), skip=refused):
                apply_error(form, DomainError(reason, field=name))
        return _render_identity(form, 422)
    upload = form.logo.data
    try:
        with transaction():
            changed = services.update_identity(form.to_input())
            if changed is not None:
                audit.record("organization.updated", "organization", before=changed[0],
                             after=changed[1])
            if upload is not None and getattr(upload, "filename", ""):
                name = services.set_logo(read_upload(upload.stream))
                audit.record("organization.logo", "organization", after={"logo_name": name})
            elif form.remove_logo.data and services.remove_logo():
                audit.record("organization.logo", "organization", after={"logo_name": None})
    except services.IdentityErrors as exc:
        for name, reason in exc.errors:
            apply_error(form, DomainError(reason, field=name))
        return _render_identity(form, 422)
    except DomainError as exc:
        apply_error(form, exc)
        return _render_identity(form, 422)
    flash(_("The organization's details are saved."), "success")
    return redirect(url_for("organization.identity"))


@bp.route("/staff/organization/pages/<slug>", methods=["GET", "POST"])
@roles("admin")
def edit_page(slug: str):
    """Edit the about, contact or privacy page in English and Japanese (admins only; audited)."""
    if slug not in PAGE_SLUGS:
        abort(404)
    if request.method == "GET":
        texts = services.page_texts(slug)
        form = PageForm(data={"body_en": texts.get("en", ""), "body_ja": texts.get("ja", "")})
    else:
        form = PageForm()
        if form.validate_on_submit():
            try:
                with transaction():
                    changed = services.update_page(slug, {"en": form.body_en.data or "",
                                                          "ja": form.body_ja.data or ""})
                    if changed is not None:
                        audit.record("organization.page", "site_pages", after=changed)
            except DomainError as exc:
                apply_error(form, exc)
            else:
                flash(_("The page is saved."), "success")
                return redirect(url_for("organization.edit_page", slug=slug))
    code = 422 if form.errors or form.form_errors else 200
    return render_template("staff/organization_page.html", form=form, slug=slug,
                           title=PAGE_TITLES[slug]), code
