"""Receipts as PDF files, in the donor's language (reportlab).

English text is set in Helvetica; Japanese in reportlab's built-in CID font
HeiseiKakuGo-W5, which every PDF reader has (nothing is embedded, so the files stay small).
Text that Helvetica cannot show (a Japanese name on an English receipt) takes the CID font
too, and a character neither font has is shown as "?" rather than lost silently.

A receipt carries the NGO's name, the donor's name as on the receipt, the receipt number,
the date, the amount and the purpose (the case's public title): never anything about the
people in a case. Call these inside ``tracker.core.i18n.language(locale)`` so the labels,
dates and amounts are written in the donor's language.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Iterable

from babel.dates import format_date
from flask_babel import gettext as _
from flask_babel import pgettext
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from tracker.core.i18n import current_locale
from tracker.core.money import Money, currency_words, format_money
from tracker.donors.services import AnnualReceipt, ReceiptDocument

LATIN, LATIN_BOLD = "Helvetica", "Helvetica-Bold"
JAPANESE = "HeiseiKakuGo-W5"
WIDTH, HEIGHT = A4
MARGIN = 56  # points (about 2 cm)
LINE = 18


def _register_fonts() -> None:
    if JAPANESE not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(JAPANESE))


def _latin_ok(text: str) -> bool:
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def _printable(text: str) -> str:
    """Text the fonts can set: no control characters, nothing beyond the Basic Multilingual
    Plane (emoji), which the CID font cannot encode."""
    text = unicodedata.normalize("NFC", text)
    return "".join("?" if ord(ch) > 0xFFFF or unicodedata.category(ch) in ("Cc", "Cs") else ch
                   for ch in text)


class _Page:
    """A canvas that picks the font each piece of text needs and starts new pages."""

    def __init__(self, title: str) -> None:
        _register_fonts()
        self.buffer = io.BytesIO()
        self.canvas = Canvas(self.buffer, pagesize=A4, pageCompression=1)
        self.canvas.setTitle(title)
        self.canvas.setAuthor(_("Rescue Tracker"))
        self.japanese = current_locale() == "ja"
        self.y = HEIGHT - MARGIN

    def font(self, text: str, bold: bool = False) -> str:
        if self.japanese or not _latin_ok(text):
            return JAPANESE
        return LATIN_BOLD if bold else LATIN

    def fit(self, text: str, size: float, width: float, bold: bool = False) -> str:
        """``text``, cut short with an ellipsis so that it fits in ``width`` points."""
        text = _printable(text)
        if pdfmetrics.stringWidth(text, self.font(text, bold), size) <= width:
            return text
        while text and pdfmetrics.stringWidth(text + "…", self.font(text + "…", bold), size) > width:
            text = text[:-1]
        return text + "…"

    def text(self, x: float, text: str, size: float = 11, *, bold: bool = False,
             right: bool = False, width: float | None = None) -> None:
        text = self.fit(text, size, width) if width else _printable(text)
        self.canvas.setFont(self.font(text, bold), size)
        (self.canvas.drawRightString if right else self.canvas.drawString)(x, self.y, text)

    def down(self, points: float = LINE) -> None:
        self.y -= points
        if self.y < MARGIN:
            self.canvas.showPage()
            self.y = HEIGHT - MARGIN

    def rule(self) -> None:
        self.canvas.setLineWidth(0.5)
        self.canvas.line(MARGIN, self.y + 6, WIDTH - MARGIN, self.y + 6)

    def heading(self, title: str) -> None:
        self.text(MARGIN, _("Rescue Tracker"), 10)
        self.down(28)
        self.text(MARGIN, title, 20, bold=True)
        self.down(30)

    def rows(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Label and value, one pair a line."""
        for label, value in pairs:
            self.text(MARGIN, label, 11)
            self.text(MARGIN + 150, value, 11, width=WIDTH - 2 * MARGIN - 150)
            self.down()

    def finish(self) -> bytes:
        self.canvas.showPage()
        self.canvas.save()
        return self.buffer.getvalue()


def _day(value) -> str:  # noqa: ANN001 - a date
    return format_date(value, format="long", locale=current_locale())


def _money(value: Money) -> str:
    return format_money(value, current_locale())


def receipt_pdf(receipt: ReceiptDocument) -> bytes:
    """One receipt as a PDF document."""
    page = _Page(_("Receipt %(number)s", number=receipt.number))
    page.heading(_("Receipt"))
    page.rows([
        (_("Receipt number"), receipt.number),
        (_("Date"), _day(receipt.day)),
        (_("Received from"), receipt.donor_name or "—"),
        (_("Amount"), _money(receipt.amount)),
        (pgettext("on a receipt", "Purpose"), receipt.purpose_label),
    ])
    page.down(12)
    page.text(MARGIN, _("Thank you for your gift."))
    page.down()
    if receipt.test_mode:
        page.text(MARGIN, _("TEST MODE — no money moved."), bold=True)
        page.down()
    page.text(MARGIN, _("Please keep this receipt for your records."), 9)
    return page.finish()


#: x positions of the annual receipt's columns
_COLUMNS = {"date": MARGIN, "number": MARGIN + 120, "purpose": MARGIN + 205, "amount": WIDTH - MARGIN}


def _annual_header(page: _Page) -> None:
    page.text(_COLUMNS["date"], _("Date"), 9, bold=True)
    page.text(_COLUMNS["number"], _("Receipt number"), 9, bold=True)
    page.text(_COLUMNS["purpose"], pgettext("on a receipt", "Purpose"), 9, bold=True)
    page.text(_COLUMNS["amount"], _("Amount"), 9, bold=True, right=True)
    page.down(10)
    page.rule()
    page.down(10)


def annual_pdf(annual: AnnualReceipt) -> bytes:
    """A fiscal year's annual receipt as a PDF document: every gift and return of the year
    and a total per currency."""
    page = _Page(_("Annual receipt for fiscal year %(year)d", year=annual.fiscal_year))
    page.heading(_("Annual receipt for fiscal year %(year)d", year=annual.fiscal_year))
    page.rows([
        (_("Fiscal year"), _("%(start)s to %(end)s", start=_day(annual.first_day),
                             end=_day(annual.last_day))),
        (_("Received from"), annual.donor_name or "—"),
    ])
    page.down(12)
    _annual_header(page)
    purpose_width = _COLUMNS["amount"] - _COLUMNS["purpose"] - 90
    for line in annual.lines:
        top = page.y
        page.text(_COLUMNS["date"], _day(line.day), 9)
        page.text(_COLUMNS["number"], line.receipt_number or "—", 9)
        purpose = line.purpose_label if line.kind == "gift" else (
            _("%(kind)s: %(purpose)s", kind=line.kind_label, purpose=line.purpose_label))
        page.text(_COLUMNS["purpose"], purpose, 9, width=purpose_width)
        page.text(_COLUMNS["amount"], _money(line.amount), 9, right=True)
        page.down()
        if page.y > top:  # a new page began
            _annual_header(page)
    page.down(4)
    page.rule()
    page.down(10)
    for total in annual.totals:
        page.text(_COLUMNS["purpose"],
                  _("Total in %(currency)s", currency=currency_words(total.currency)), 11, bold=True)
        page.text(_COLUMNS["amount"], _money(total), 11, bold=True, right=True)
        page.down()
    page.down(12)
    page.text(MARGIN, _("Refunds and returns are subtracted in the fiscal year they were made."), 9)
    page.down()
    page.text(MARGIN, _("Amounts in different currencies are totalled separately."), 9)
    page.down()
    if annual.test_mode:
        page.text(MARGIN, _("TEST MODE — no money moved."), bold=True)
        page.down()
    page.text(MARGIN, _("Thank you for your support."))
    return page.finish()
