"""Languages: the catalog is complete, the visitor's choice wins and is remembered, unknown
codes fall back to the default, and money and dates follow the language."""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from tracker.core import i18n
from tracker.core.money import Money

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "tracker" / "translations" / "ja" / "LC_MESSAGES"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None,
            "lazy_ngettext": (1, 2), "pgettext": ((1, "c"), 2), "lazy_pgettext": ((1, "c"), 2)}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _extracted() -> dict[str, str]:
    """Every translatable text in the code and templates, as babel.cfg says to find it."""
    method_map = [("tracker/**.py", "python"), ("templates/**.html", "jinja2"),
                  ("templates/**.txt", "jinja2")]
    found: dict[str, str] = {}
    def wanted(path: str) -> bool:  # every folder but hidden ones (templates/_macros too)
        name = os.path.basename(path)
        return not name.startswith(".") and name != "node_modules"

    for filename, _lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, keywords=KEYWORDS, directory_filter=wanted):
        # a plural is one catalog entry, keyed by its singular
        text = message[0] if isinstance(message, tuple) else message
        if text:
            found.setdefault(text, filename)
    return found


def _po() -> dict[str, object]:
    with (CATALOG / "messages.po").open("rb") as f:
        catalog = read_po(f, locale="ja")
    return {(m.id if isinstance(m.id, str) else m.id[0]): m for m in catalog if m.id}


def test_every_text_in_the_app_has_a_japanese_translation() -> None:
    extracted = _extracted()
    assert len(extracted) > 15  # the extraction itself works
    catalog = _po()
    missing = [f"{text!r} ({where})" for text, where in sorted(extracted.items())
               if text not in catalog]
    assert not missing, "not in the catalog (run `python3 dev.py i18n`):\n" + "\n".join(missing)
    empty = [text for text in extracted
             if catalog[text].fuzzy or not (catalog[text].string if isinstance(catalog[text].string, str)
                                            else all(catalog[text].string))]
    assert not empty, "untranslated or fuzzy in messages.po:\n" + "\n".join(map(repr, empty))


def test_translations_keep_their_placeholders() -> None:
    for text, message in _po().items():
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for string in strings:
            assert set(PLACEHOLDER.findall(string)) == set(PLACEHOLDER.findall(text)), text


#: words JA_STYLE (or one word per idea) rules out, with the word used instead
OUT_OF_STYLE = {
    "口座種別": "預金種目",  # the bank-transfer pages: the pledge page's word
    "照会番号": "照合コード",
    "受領証": "領収書",  # a receipt (the tax receipt's name 寄附金受領証明書 aside)
    "ご寄附": "ご寄付",  # 寄附 only in the tax document's own wording
}


def test_one_word_per_idea_in_the_catalog() -> None:
    found = []
    for text, message in _po().items():
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for string in strings:
            plain = string.replace("寄附金受領証明書", "")
            found += [f"{word} (use {better}) in {text!r}" for word, better in OUT_OF_STYLE.items()
                      if word in plain]
    assert not found, "\n".join(found)


def test_the_compiled_catalog_is_the_po_file() -> None:
    def plain(string: object) -> object:
        return string if isinstance(string, str) else tuple(string)

    with (CATALOG / "messages.mo").open("rb") as f:
        compiled = {(m.id if isinstance(m.id, str) else m.id[0]): plain(m.string)
                    for m in read_mo(f) if m.id}
    written = {text: plain(m.string) for text, m in _po().items()
               if not m.fuzzy and (m.string if isinstance(m.string, str) else all(m.string))}
    assert compiled == written, "messages.mo is stale: run `python3 dev.py i18n`"


@pytest.mark.parametrize(("code", "expected"), [
    ("ja", "ja"), ("ja-JP", "ja"), ("JA_jp", "ja"), ("en-GB", "en"), ("en", "en"),
    ("xx", None), ("", None), (None, None), ("ja" * 40, None), ("\x00ja", None), ("日本語", None),
])
def test_known_language_codes(code: object, expected: str | None) -> None:
    assert i18n.known(code) == expected


# --- choosing the language ------------------------------------------------------------------


def _says_japanese(html: str) -> bool:
    return '<html lang="ja">' in html and "本文へ移動" in html


def test_default_is_english_without_any_hint(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in html and "Skip to content" in html


def test_accept_language_picks_japanese(client: FlaskClient) -> None:
    response = client.get("/", headers={"Accept-Language": "ja-JP,ja;q=0.9,en;q=0.5"})
    assert _says_japanese(response.get_data(as_text=True))
    assert {"Accept-Language", "Cookie"} <= set(response.vary)
    response = client.get("/", headers={"Accept-Language": "fr-FR,en;q=0.5,ja;q=0.4"})
    assert '<html lang="en">' in response.get_data(as_text=True)


def test_the_picked_language_is_remembered_and_beats_the_browser(client: FlaskClient) -> None:
    response = client.get("/?lang=ja", headers={"Accept-Language": "en"})
    assert _says_japanese(response.get_data(as_text=True))
    cookie = client.get_cookie(i18n.COOKIE)
    assert cookie is not None and cookie.value == "ja" and cookie.http_only
    assert _says_japanese(client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True))
    client.get("/?lang=en")
    assert "Skip to content" in client.get("/", headers={"Accept-Language": "ja"}).get_data(as_text=True)


@pytest.mark.parametrize("code", ["xx", "", "ja-<script>", "%00", "e" * 100, "zh"])
def test_an_unknown_code_falls_back_and_is_not_remembered(client: FlaskClient, code: str) -> None:
    response = client.get("/", query_string={"lang": code})
    assert response.status_code == 200
    assert '<html lang="en">' in response.get_data(as_text=True)
    assert client.get_cookie(i18n.COOKIE) is None
    # with a Japanese browser the fallback is the browser's language
    response = client.get("/", query_string={"lang": code}, headers={"Accept-Language": "ja"})
    assert _says_japanese(response.get_data(as_text=True))


def test_a_forged_cookie_is_ignored(client: FlaskClient) -> None:
    client.set_cookie(i18n.COOKIE, "../../etc/passwd")
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)


def test_language_links_keep_the_page_and_its_query(client: FlaskClient) -> None:
    html = client.get("/?page=2").get_data(as_text=True)
    links = re.findall(r'href="([^"]+)"[^>]*hreflang="ja"', html)
    assert links and all("lang=ja" in link and "page=2" in link for link in links)
    html = client.get("/no-such-page").get_data(as_text=True)
    assert 'href="/?lang=ja"' in html


@pytest.mark.parametrize("query", ["slug=other", "_scheme=https", "_external=1", "_anchor=x",
                                   "_method=POST", "lang=ja&lang=en"])
def test_language_links_survive_any_query(client: FlaskClient, query: str) -> None:
    from tests.factories import make_case
    from tracker.cases import workflow

    make_case("query-case", status=workflow.FUNDRAISING)
    for path in ("/", "/cases/query-case", "/cases/no-such-case", "/donate"):
        response = client.get(f"{path}?{query}")
        assert response.status_code in (200, 404), (path, query)
        links = re.findall(r'href="([^"]+)"[^>]*hreflang="', response.get_data(as_text=True))
        assert links and all(link.startswith("/") for link in links), (path, query, links)
        if path == "/cases/query-case":
            assert all(link.startswith("/cases/query-case?") for link in links), links


def test_a_translation_missing_from_the_catalog_shows_the_english(app: Flask) -> None:
    from flask_babel import gettext, refresh
    with app.test_request_context("/?lang=ja"):
        refresh()
        assert gettext("Skip to content") == "本文へ移動"
        assert gettext("A sentence nobody translated.") == "A sentence nobody translated."


# --- money and dates follow the language ----------------------------------------------------


def test_money_and_dates_in_each_language(app: Flask) -> None:
    from flask_babel import refresh

    from tracker.web.templating import long_date, money_filter
    # (the test's app context outlives each request context: forget the cached locale)
    with app.test_request_context("/?lang=ja"):
        refresh()
        assert money_filter(Money(5000, "JPY")) == "5,000円"
        assert money_filter(Money(5050, "USD")) == "$50.50"
        assert long_date(date(2026, 11, 27)) == "2026年11月27日"
    with app.test_request_context("/?lang=en"):
        refresh()
        assert money_filter(Money(5000, "JPY")) == "¥5,000"
        assert long_date(date(2026, 11, 27)) == "November 27, 2026"
    with app.app_context(), i18n.language("ja"):
        assert money_filter(Money(1200000, "JPY")) == "1,200,000円"
    with app.app_context(), i18n.language("xx"):
        assert money_filter(Money(5000, "JPY")) == "¥5,000"


def test_cached_pages_are_kept_per_language(client: FlaskClient) -> None:
    english = client.get("/")
    japanese = client.get("/", headers={"Accept-Language": "ja"})
    assert _says_japanese(japanese.get_data(as_text=True))
    assert "Skip to content" in client.get("/").get_data(as_text=True)
    if english.headers.get("ETag") and japanese.headers.get("ETag"):
        assert english.headers["ETag"] != japanese.headers["ETag"]
        # the English ETag does not validate the Japanese page
        again = client.get("/", headers={"Accept-Language": "ja", "If-None-Match": english.headers["ETag"]})
        assert again.status_code == 200 and _says_japanese(again.get_data(as_text=True))


# --- Japanese that follows ../shared/JA_STYLE.md ----------------------------------------------
#
# Every Japanese text in the catalog is checked against the style guide's rules that a machine
# can check: no ASCII punctuation inside Japanese (rule 3) and the glossary's one word per idea.

#: a Japanese character: kana, kanji, and the full-width punctuation and forms around them
JAPANESE = r"[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]"
#: the ASCII marks that must not touch Japanese text (full-width ：、。（）「」！？ instead)
ASCII_MARKS = r"[,.:;!?()\"']"
#: quotes and parentheses count across spaces too: 「アドレス '%(slug)s' は」 splices ASCII quotes
#: into a sentence as surely as 「アドレス'%(slug)s'は」
ASCII_BRACKETS = r"[()\"']"
_ASCII_IN_JAPANESE = re.compile(rf"{JAPANESE}{ASCII_MARKS}|{ASCII_MARKS}{JAPANESE}"
                                rf"|{JAPANESE} +{ASCII_BRACKETS}|{ASCII_BRACKETS} +{JAPANESE}")
#: what stays as it is, whatever the language, and is taken out before the check:
_KEPT_AS_IS = [
    re.compile(r"%\(\w+\)[sdfi]|%%"),                 # placeholders: %(name)s, %%
    re.compile(r"\{\w*\}"),                           # format fields: {name}
    re.compile(r"https?://[^\s「」（）、。]+"),          # URLs
    re.compile(r"<[^<>]+>"),                          # HTML tags
    re.compile(r"\[[^\]]*\]\([^)]*\)"),               # Markdown links [text](url)
    # a literal quoted in Japanese brackets with no Japanese in it: an alias 「Mr. Y.Y.」, a
    # slug 「six-flood-survivors」, a mark 「.」 (shown exactly as it must be typed)
    re.compile(r"「[^「」\u3040-\u30ff\u4e00-\u9fff]*」"),
]


def ascii_punctuation_in_japanese(text: str) -> list[str]:
    """The places where an ASCII , . : ; ! ? ( ) " ' touches a Japanese character, once
    placeholders, format fields, URLs, HTML tags, Markdown links and quoted literals are out.
    A neutral letter stands where they were, so "%(name)s." is not read as touching Japanese."""
    for pattern in _KEPT_AS_IS:
        text = pattern.sub("x", text)
    return [match.group() for match in _ASCII_IN_JAPANESE.finditer(text)]


#: the glossary of JA_STYLE.md as data: (what is written against it, what to write, and a
#: condition under which the word is right after all)
GLOSSARY: list[tuple[re.Pattern[str], str, re.Pattern[str] | None]] = [
    (re.compile("寄付者"), "支援者 (donor; 寄附者 only on tax documents)", None),
    (re.compile("寄附"), "寄付 (寄附 only in tax-law contexts)",
     re.compile("寄附金受領証明書|税|控除")),
    (re.compile("現地時間|現地の日付"), "日本時間", None),
    (re.compile(r"[A-Z][a-z]+/[A-Z][A-Za-z_]+"), "日本時間 (never a time zone's IANA name)", None),
    (re.compile("あなた"), "the donor's name with 様 (never あなた)", None),
    (re.compile("こんにちは"), "〇〇様 and a line of thanks (never こんにちは)", None),
    (re.compile(r"(?<![A-Za-z])JPY(?![A-Za-z])"),
     "円 in a sentence (JPY only in CSV columns and settings)", None),
    (re.compile("定期寄付|継続寄付|月額寄付|マンスリー"), "毎月のご寄付 (staff: 毎月寄付)", None),
    (re.compile("毎月[^。]*(中止|キャンセル|停止)"), "解約 for ending a monthly gift", None),
    (re.compile("保護"), "安全な場所にたどり着きました (保護 reads as custody)",
     re.compile("個人情報|データ|プライバシー")),
    (re.compile(r"人中[^。]*人を救出"), "6人中1人が救出済み", None),
    (re.compile("取消(?!し)"), "取り消し", None),
    (re.compile("～"), "〜 (U+301C) for ranges", None),
    # "18-29" or "18-29歳" (not a date's "2026-11-01", nor a range of amounts)
    (re.compile(r"(?<![\d,.-])\d{1,2}-\d{1,2}(?![\d,.-])"), "18〜29歳 for an age band", None),
]


#: the msgctxt of text printed on a tax document (the tax receipt), where tax law's words
#: (寄附, 寄附金, 寄附者) are the right ones
TAX_DOCUMENT = "tax receipt"


def glossary_slips(text: str, context: str | None = None) -> list[str]:
    """Each glossary word used against the glossary in ``text``, with what to write instead;
    on a tax document (``context`` TAX_DOCUMENT) tax law's 寄附 is right."""
    return [f"{pattern.pattern} -> {instead}" for pattern, instead, unless in GLOSSARY
            if pattern.search(text) and not (unless and unless.search(text))
            and not (context == TAX_DOCUMENT and "寄附" in pattern.pattern)]


def _japanese_strings(with_context: bool = False) -> list[tuple]:
    """(English, Japanese) for every translated catalog entry, plural forms included (with
    its msgctxt third when ``with_context``)."""
    with (CATALOG / "messages.po").open("rb") as f:
        catalog = read_po(f, locale="ja")
    found = []
    for message in catalog:
        if not message.id:
            continue
        english = message.id if isinstance(message.id, str) else message.id[0]
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        found += [(english, s, message.context) if with_context else (english, s)
                  for s in strings if s]
    return found


def test_japanese_has_no_ascii_punctuation() -> None:
    bad = [f"{english!r}: {japanese!r} {ascii_punctuation_in_japanese(japanese)}"
           for english, japanese in _japanese_strings() if ascii_punctuation_in_japanese(japanese)]
    assert not bad, "ASCII punctuation inside Japanese (JA_STYLE.md rule 3):\n" + "\n".join(bad)


def test_japanese_follows_the_glossary() -> None:
    bad = [f"{english!r}: {japanese!r} {glossary_slips(japanese, context)}"
           for english, japanese, context in _japanese_strings(with_context=True)
           if glossary_slips(japanese, context)]
    assert not bad, "against the glossary of JA_STYLE.md:\n" + "\n".join(bad)


@pytest.mark.parametrize("text", [
    "お名前: 田中", "ご寄付ありがとうございます!", "領収書(PDF)", "例：'Mr. Y.Y.'", "寄付先, 一般基金",
    "アドレス '%(slug)s' は使われています", "金額 (%(currency)s) を入力",
    '「%(title)s」は"公開中"です', "本日中に届きます.", "金額は%(amount)s.です",
])
def test_the_punctuation_check_catches_ascii_marks(text: str) -> None:
    assert ascii_punctuation_in_japanese(text)


@pytest.mark.parametrize("text", [
    "%(name)s様、ご寄付ありがとうございます。", "5,000円", "例：「Mr. Y.Y.」", "（例：-1,000 や 500）",
    "<strong>%(amount)s</strong>のご寄付", "[こちら](https://example.org/a.b)をご覧ください。",
    "name@example.org のように入力してください。", "「.」が必要です。", "{count}件", "https://example.org/x?a=1。",
    "2025-10-01 09:00 のように入力", "Rescue Trackerに表示された6桁のコード",
])
def test_the_punctuation_check_leaves_what_is_right(text: str) -> None:
    assert not ascii_punctuation_in_japanese(text), text


@pytest.mark.parametrize(("text", "slip"), [
    ("寄付者の皆さま", "寄付者"), ("ご寄附ありがとうございます。", "寄附"),
    ("時刻は現地時間です。", "現地時間"), ("Asia/Tokyoの時間", "/"), ("あなたのご寄付", "あなた"),
    ("こんにちは。", "こんにちは"), ("5,000 JPYをお受けしました。", "JPY"),
    ("定期寄付の件数", "定期寄付"), ("毎月のご寄付を中止しました。", "解約"),
    ("全員が無事に保護されました", "保護"), ("6人中1人を救出", "救出済み"), ("支払いの取消", "取り消し"),
    ("2025年9月1日～2026年8月31日", "〜"), ("年齢層：18-29", "18〜29歳"),
])
def test_the_glossary_check_catches_each_slip(text: str, slip: str) -> None:
    slips = glossary_slips(text)
    assert slips and any(slip in s for s in slips), (text, slips)


@pytest.mark.parametrize("text", [
    "支援者%(num)s人", "寄附金受領証明書（2026年分）", "時刻は日本時間です。", "%(name)s様",
    "毎月のご寄付を解約しました。", "6人中1人が救出済み", "個人情報の保護について", "18〜29歳",
    "ケースの結果：中止", "取り消しました。", "日時は 2025-10-01 09:00 のように入力してください。",
])
def test_the_glossary_check_leaves_what_is_right(text: str) -> None:
    assert not glossary_slips(text), text


def test_tax_law_words_are_right_only_on_a_tax_document() -> None:
    statement = "上記の金額を寄附金として受領いたしました。"
    assert glossary_slips(statement) != []
    assert glossary_slips(statement, TAX_DOCUMENT) == []
    assert glossary_slips("あなたの寄附", TAX_DOCUMENT) != []  # the rest of the glossary holds
