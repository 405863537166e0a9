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
from datetime import date

from babel.dates import format_date
from flask_babel import gettext as _
from flask_babel import pgettext
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from tracker.core.i18n import current_locale
from tracker.core.money import Money, currency_words, format_money
from tracker.donations.receipts import donor_name_label
from tracker.donors.services import AnnualReceipt, ReceiptDocument
from tracker.donors.tax import TaxReceiptDocument
from tracker.organization.identity import current_identity

LATIN, LATIN_BOLD = "Helvetica", "Helvetica-Bold"
JAPANESE = "HeiseiKakuGo-W5"
WIDTH, HEIGHT = A4
MARGIN = 56  # points (about 2 cm)
LINE = 18


#: characters the CID font has under another code point
_CID_DASHES = str.maketrans({"\u2014": "\u2015"})


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
        self.canvas.setAuthor(current_identity().legal_name())
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
        font = self.font(text, bold)
        if font == JAPANESE:
            # the CID font's Unicode map (UniJIS-UCS2-H) has its dash at U+2015, not at the
            # em dash U+2014: readers showed nothing for "—"
            text = text.translate(_CID_DASHES)
        self.canvas.setFont(font, size)
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
        """The organization (legal name, address, certification), then ``title``."""
        identity = current_identity()
        self.text(MARGIN, identity.legal_name(), 10, bold=True)
        for line in (identity.address(), identity.certification()):
            if line:
                self.down(13)
                self.text(MARGIN, line, 9, width=WIDTH - 2 * MARGIN)
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
        (_("Received from"), donor_name_label(receipt.donor_name) or "—"),
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
        (_("Received from"), donor_name_label(annual.donor_name) or "—"),
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


def tax_receipt_pdf(receipt: TaxReceiptDocument) -> bytes:
    """A calendar year's tax receipt (寄附金受領証明書) as a PDF document: the addressee with
    様, every gift received in the year in yen, the total, the statement of receipt for the
    organization's specified non-profit activities, and who issued it."""
    identity = current_identity()
    locale = current_locale()
    title = _("Receipt for donations (tax year %(year)d)", year=receipt.year)
    page = _Page(title)
    page.heading(title)
    if receipt.reissue_of is not None:
        page.text(MARGIN, _("Reissued on %(today)s (first issued on %(first)s)",
                            today=_day(receipt.issued_on), first=_day(receipt.reissue_of)), 10, bold=True)
        page.down()
    addressee = receipt.addressee
    page.text(MARGIN, f"〒{addressee.postal_code}  {addressee.address}", 10, width=WIDTH - 2 * MARGIN)
    page.down()
    if addressee.kana:
        page.text(MARGIN, addressee.kana, 8)
        page.down(12)
    page.text(MARGIN, _("To %(name)s", name=addressee.name), 14, bold=True)
    page.down(24)
    page.rows([
        (_("Receipt number"), receipt.number),
        (_("Date of issue"), _day(receipt.issued_on)),
        (_("Period"), _("%(start)s to %(end)s", start=_day(date(receipt.year, 1, 1)),
                        end=_day(date(receipt.year, 12, 31)))),
        (pgettext("tax receipt", "Total received"), _money(receipt.total)),
    ])
    page.down(8)
    page.text(MARGIN, pgettext("tax receipt", "We received the amount above as a donation for our "
                               "specified non-profit activities."), 10, width=WIDTH - 2 * MARGIN)
    page.down(20)
    page.text(_COLUMNS["date"], _("Date received"), 9, bold=True)
    page.text(_COLUMNS["amount"], _("Amount"), 9, bold=True, right=True)
    page.down(10)
    page.rule()
    page.down(10)
    for line in receipt.lines:
        page.text(_COLUMNS["date"], _day(line.day), 9)
        if line.kind != "gift":
            page.text(_COLUMNS["number"], _("Returned or corrected"), 9)
        elif line.original is not None:
            page.text(_COLUMNS["number"], _("Given as %(amount)s", amount=_money(line.original)), 9)
        page.text(_COLUMNS["amount"], _money(line.amount), 9, right=True)
        page.down()
    page.down(4)
    page.rule()
    page.down(24)
    page.text(MARGIN, identity.legal_name(locale), 11, bold=True)
    page.down()
    for line in (identity.address(locale), identity.representative(locale),
                 identity.certification(locale)):
        if line:
            page.text(MARGIN, line, 9, width=WIDTH - 2 * MARGIN)
            page.down()
    if receipt.test_mode:
        page.down()
        page.text(MARGIN, _("TEST MODE — no money moved."), bold=True)
        page.down()
    return page.finish()
