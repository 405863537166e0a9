"""Who a tax receipt (寄附金受領証明書) is made out to: the checks, written once.

The donor's own page (``tracker.donors.tax.set_addressee``) and the give form (a gift that
asks for a tax receipt) both check a name, its reading in katakana (フリガナ), a postal code
and an address with ``check_addressee``.
"""

from __future__ import annotations

import re
import unicodedata

from flask_babel import gettext as _

from tracker.core.errors import DomainError

POSTAL_CODE = re.compile(r"^(\d{3})-?(\d{4})$")
#: katakana, the long-vowel mark, middle dot and spaces: a name's reading (フリガナ)
KANA = re.compile(r"^[\u30A0-\u30FF\u3000 ]+$")


def clean(text: str | None, limit: int) -> str:
    """One line of text: runs of spaces made one, control characters gone, at most ``limit``."""
    text = " ".join((text or "").split())
    return "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")[:limit]


def check_addressee(name: str | None, kana: str | None, postal_code: str | None,
                    address: str | None, *, prefix: str = "") -> tuple[str, str, str, str]:
    """The addressee cleaned (half-width katakana made full-width, the postal code written
    123-4567), or a DomainError at the field that is wrong (``prefix`` + name, kana,
    postal_code or address): a missing name or address, a reading not in katakana, a postal
    code that is not seven digits. The reading may be left empty."""
    name = clean(name, 200)
    kana = unicodedata.normalize("NFKC", clean(kana, 200))
    address = clean(address, 300)
    if not name:
        raise DomainError(_("Enter the name the tax receipt is made out to."), field=prefix + "name")
    if kana and not KANA.match(kana):
        raise DomainError(_("Write the reading in katakana (for example ヤマダ タロウ)."),
                          field=prefix + "kana")
    # full-width digits and any dash a Japanese keyboard types (−, ー, ‐, 〒) are accepted
    typed = unicodedata.normalize("NFKC", postal_code or "").strip().removeprefix("〒").strip()
    found = POSTAL_CODE.match(re.sub("[\u2010-\u2015\u2212\u30fc\uff70]", "-", typed))
    if not found:
        raise DomainError(_("Enter the postal code as seven digits (for example 100-0001)."),
                          field=prefix + "postal_code")
    if not address:
        raise DomainError(_("Enter the address the tax receipt is made out to."),
                          field=prefix + "address")
    return name, kana, f"{found.group(1)}-{found.group(2)}", address
