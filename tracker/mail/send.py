"""Sending one email: over SMTP when MAIL_SERVER is set, otherwise as an .eml file.

The embedded default writes each message into the instance folder (``instance/mail``, or
MAIL_FILE_DIR), so a laptop or a test run needs no mail server and staff can open the files.
Errors are raised, never swallowed: ``tracker.mail.outbox`` records them and retries later.
Callers go through the outbox (``outbox.queue``) rather than calling ``send_email`` directly,
so that mail leaves only after the change that caused it has been committed.
"""

from __future__ import annotations

import contextlib
import email.policy
import os
import secrets
import smtplib
import ssl
import tempfile
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from flask import current_app
from flask_babel import gettext as _

from tracker.core.i18n import language
from tracker.core.time import utcnow
from tracker.organization.identity import Identity, current_identity

#: seconds to wait for the SMTP server at each step
SMTP_TIMEOUT = 10


def _sender_domain(sender: str) -> str:
    """The domain of MAIL_FROM, for Message-IDs (``localhost`` when it has none)."""
    _, address = parseaddr(sender)
    domain = address.rpartition("@")[2]
    return domain or "localhost"


def signature(identity: Identity, locale: str | None = None) -> str:
    """The closing line and the organization's signature that end every mail, in ``locale``:
    its legal name (and its name when that differs), postal address and contact address."""
    with language(locale) as code:
        lines = [_("With warm regards,"), "", "-- "]
        legal, name = identity.legal_name(code), identity.name(code)
        lines.append(legal)
        if name not in legal:
            lines.append(name)
        if identity.certification(code):
            lines.append(identity.certification(code))
        if identity.address(code):
            lines.append(identity.address(code))
        if identity.contact_email:
            lines.append(_("Email: %(address)s", address=identity.contact_email))
    return "\n".join(lines) + "\n"


#: the email package's default policy, with lines up to RFC 5322's limit of 998 characters: a
#: long ASCII header (List-Unsubscribe's URL) stays as it is instead of being MIME-encoded,
#: which mail programs would no longer read as a link
MAIL_POLICY = email.policy.default.clone(max_line_length=998)


def build_message(to: str, subject: str, body: str, locale: str | None = None,
                  headers: dict[str, str] | None = None) -> EmailMessage:
    """A plain-text UTF-8 message to ``to``, with Date and Message-ID, from the organization's
    sender address under its name (MAIL_FROM while no identity is stored), its body ended by
    the closing line and signature in ``locale`` (the language the body is written in), and
    ``headers`` besides (``List-Unsubscribe``...; they never replace the ones set here).

    Header values containing line breaks are refused by the email package (ValueError), so
    nothing a user typed can add headers.
    """
    identity = current_identity()
    sender = identity.sender(locale)
    body = body.rstrip("\n") + "\n\n" + signature(identity, locale)
    message = EmailMessage(policy=MAIL_POLICY)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(utcnow())
    # An explicit domain: make_msgid() would otherwise look up this host's FQDN (slow DNS).
    message["Message-ID"] = make_msgid(domain=_sender_domain(sender))
    for name, value in (headers or {}).items():
        if name not in message:
            message[name] = value
    message.set_content(body, subtype="plain", charset="utf-8")
    return message


def mail_file_dir() -> str:
    """Where the file transport writes messages."""
    return current_app.config.get("MAIL_FILE_DIR") or os.path.join(current_app.instance_path, "mail")


def _send_smtp(message: EmailMessage) -> None:
    config = current_app.config
    with smtplib.SMTP(config["MAIL_SERVER"], int(config.get("MAIL_PORT") or 25),
                      timeout=SMTP_TIMEOUT) as smtp:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls(context=ssl.create_default_context())
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
        smtp.send_message(message)


def _write_file(message: EmailMessage) -> str:
    directory = mail_file_dir()
    os.makedirs(directory, exist_ok=True)
    name = f"{utcnow():%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(4)}.eml"
    final = os.path.join(directory, name)
    # mkstemp creates the file readable by this user only (it holds a donor's address); the
    # leading dot and .tmp suffix keep readers away from a half-written file.
    fd, temp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(message.as_bytes())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, final)
    except BaseException:
        # Best-effort clean-up of the temp file; the original error is what matters.
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return final


def send_email(to: str, subject: str, body: str, locale: str | None = None,
               headers: dict[str, str] | None = None) -> None:
    """Deliver one plain-text email now; raise (smtplib.SMTPException, OSError) on failure.

    Only public information may go in ``subject`` and ``body``: never a beneficiary's name
    or whereabouts (see the Safety section of the design).
    """
    message = build_message(to, subject, body, locale, headers)
    if current_app.config.get("MAIL_SERVER"):
        _send_smtp(message)
    else:
        _write_file(message)
