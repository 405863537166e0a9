"""XSS: Markdown is rendered then sanitized with nh3 (``tracker.web.templating.render_markdown``),
and everything else a visitor or staff member typed is escaped by the templates.

A corpus of hostile inputs goes through ``render_markdown`` on its own, then through the real
public pages (a post's title and body, a case's title and summary, a donor's name and message
on the donor wall). The output is parsed with the standard library's ``html.parser`` and must
hold no executable content: no script-capable elements, no ``on*`` attribute, and no URL whose
scheme is anything but http, https or mailto (relative URLs are fine).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from flask import current_app

from tests.payments.helpers import pay_on_page, start_gift
from tracker.cases import services as case_services
from tracker.cases import workflow
from tracker.core.money import Money
from tracker.core.time import utcnow
from tracker.donations import messages as wall_messages
from tracker.extensions import db
from tracker.posts.models import Post
from tracker.web.templating import render_markdown

#: (id, payload): what an attacker (or a careless paste) could put in Markdown or a text field
PAYLOADS: list[tuple[str, str]] = [
    ("script-tag", "<script>alert(1)</script>"),
    ("script-uppercase", "<SCRIPT SRC=//evil.example/x.js></SCRIPT>"),
    ("script-split-by-nesting", "<scr<script>ipt>alert(1)</scr</script>ipt>"),
    ("script-unclosed", "<script>alert(1)"),
    ("img-onerror", '<img src=x onerror="alert(1)">'),
    ("img-onerror-slashes", "<img/src=x/onerror=alert(1)>"),
    ("img-unclosed-onerror", "<img src=x onerror=alert(1)//"),
    ("svg-onload", "<svg onload=alert(1)><circle r=1 /></svg>"),
    ("svg-use-xlink", '<svg><use xlink:href="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=#x"></use></svg>'),
    ("math-xlink",
     '<math><maction actiontype="statusline" xlink:href="javascript:alert(1)">x</maction></math>'),
    ("iframe-srcdoc", '<iframe src="javascript:alert(1)" srcdoc="<script>alert(1)</script>"></iframe>'),
    ("object-data", '<object data="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="></object>'),
    ("embed-src", '<embed src="javascript:alert(1)">'),
    ("style-tag", "<style>body{background:url(javascript:alert(1))}</style>"),
    ("style-attribute", '<p style="background:url(javascript:alert(1))">x</p>'),
    ("md-link-javascript", "[click](javascript:alert(1))"),
    ("md-link-javascript-mixed-case", "[click](JaVaScRiPt:alert(1))"),
    ("md-link-javascript-angle-newline", "[click](<java\nscript:alert(1)>)"),
    ("md-link-entity-tab", "[click](java&#x09;script:alert(1))"),
    ("md-link-vbscript", "[click](vbscript:msgbox(1))"),
    ("md-link-data", "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)"),
    ("md-image-javascript", "![pic](javascript:alert(1))"),
    ("md-image-title-breakout", '![pic](http://example.org/a.png "x\\" onerror=\\"alert(1))'),
    ("md-link-title-breakout", '[x](http://example.org/ "a" onmouseover="alert(1)")'),
    ("md-reference-link", "[click][evil]\n\n[evil]: javascript:alert(1)"),
    ("md-reference-link-entity", "[click][evil]\n\n[evil]: jav&#x61;script:alert(1)"),
    ("md-autolink-javascript", "<javascript:alert(1)>"),
    ("md-code-span-stays-text", "`<script>alert(1)</script>` and [ok](https://example.org/)"),
    ("md-html-block", "<div>\n<script>alert(1)</script>\n</div>\n\n*text*"),
    ("md-placeholder-forgery", "\x02wzxhzdk:0\x03 <script>alert(1)</script>"),
    ("html-a-javascript", '<a href="javascript:alert(1)">x</a>'),
    ("html-a-hex-entity", '<a href="jav&#x61;script:alert(1)">x</a>'),
    ("html-a-decimal-entities",
     '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>'),
    ("html-a-named-entity-colon", '<a href="javascript&colon;alert(1)">x</a>'),
    ("html-a-leading-spaces", '<a href="  javascript:alert(1)">x</a>'),
    ("html-a-newline", '<a href="java\nscript:alert(1)">x</a>'),
    ("html-a-tab", '<a href="java\tscript:alert(1)">x</a>'),
    ("html-a-tab-entity", '<a href="java&Tab;script:alert(1)">x</a>'),
    ("html-a-control-char", '<a href="\x01javascript:alert(1)">x</a>'),
    ("html-a-vbscript", '<a href="VBScript:msgbox(1)">x</a>'),
    ("html-a-data", '<a href="data:text/html,<script>alert(1)</script>">x</a>'),
    ("html-a-onclick", '<a href="https://example.org/" onclick="alert(1)">x</a>'),
    ("attr-quote-breakout", '<a href="https://example.org/" title="x" onmouseover="alert(1)" x="">x</a>'),
    ("attr-quote-breakout-single", "<img src='x' alt='\" onerror=alert(1) '>"),
    ("comment-breakout", "<!-- a --><script>alert(1)</script><!-- -->"),
    ("comment-close-first", "--><script>alert(1)</script>"),
    ("comment-conditional", "<!--[if gte IE 4]><script>alert(1)</script><![endif]-->"),
    ("malformed-nested", "<<script>script>alert(1)<</script>/script>"),
    ("nested-in-allowed-tags", "<p><b onmouseover=alert(1)>bold <i><script>alert(1)</script></i></b></p>"),
    ("base-href", '<base href="javascript:alert(1)//">'),
    ("form-action",
     '<form action="javascript:alert(1)"><button formaction="javascript:alert(1)">go</button></form>'),
    ("meta-refresh", '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">'),
    ("img-srcset",
     '<img src="https://example.org/a.png" srcset="javascript:alert(1) 1x, data:image/svg+xml,x 2x">'),
    ("details-ontoggle", "<details open ontoggle=alert(1)><summary>x</summary></details>"),
    ("body-onload", "<body onload=alert(1)>"),
    ("textarea-breakout", "</textarea><script>alert(1)</script>"),
    ("title-breakout", "</title><script>alert(1)</script>"),
    ("noscript-mutation", '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>'),
]

#: elements that run script, load documents, restyle the page or change where forms and links go
FORBIDDEN_TAGS = frozenset({
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "style", "svg", "math",
    "base", "form", "meta", "link", "template", "portal",
})
#: attributes whose value is a URL (srcset: a list of them)
URL_ATTRIBUTES = frozenset({
    "href", "src", "srcset", "action", "formaction", "xlink:href", "data", "poster", "background",
    "cite", "longdesc", "ping", "manifest", "codebase", "dynsrc", "lowsrc", "icon",
})
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME_RE = re.compile(r"^([a-z][a-z0-9+.\-]*):")
#: what the URL standard strips from both ends (C0 controls and space) ...
_EDGE = "".join(chr(c) for c in range(0x21))
#: ... and removes anywhere (tab, newline); other controls are dropped too, to be strict
_INSIDE = re.compile(r"[\x00-\x1f\x7f]")


def url_scheme(value: str) -> str | None:
    """The scheme a browser would see in an (already entity-decoded) attribute value, lower-case;
    None for a relative URL.

    A space inside stays, as in browsers: "java script:" has no valid scheme, so it is relative.
    """
    cleaned = _INSIDE.sub("", value.strip(_EDGE)).lower()
    match = _SCHEME_RE.match(cleaned)
    return match.group(1) if match else None


def _urls(name: str, value: str) -> list[str]:
    if name == "srcset":
        return [part.strip().split(" ")[0] for part in value.split(",") if part.strip()]
    return [value]


class Inspector(HTMLParser):
    """Walks HTML (optionally only inside <main>) and lists what could execute; keeps the text."""

    def __init__(self, *, main_only: bool, forbid_style_attribute: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.main_only = main_only
        self.forbid_style = forbid_style_attribute
        self.main_depth = 0
        self.saw_main = False
        self.problems: list[str] = []
        self.text: list[str] = []

    @property
    def inside(self) -> bool:
        return not self.main_only or self.main_depth > 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "main":
            self.main_depth += 1
            self.saw_main = True
        if not self.inside:
            return
        if tag in FORBIDDEN_TAGS:
            self.problems.append(f"<{tag}> element")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...> event handler")
            if self.forbid_style and name == "style":
                self.problems.append(f"<{tag} style=...> attribute")
            if name in URL_ATTRIBUTES and value is not None:
                for url in _urls(name, value):
                    scheme = url_scheme(url)
                    if scheme is not None and scheme not in SAFE_SCHEMES:
                        self.problems.append(f"<{tag} {name}={value!r}> has scheme {scheme!r}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "main" and self.main_depth:
            self.main_depth -= 1

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.text.append(data)


def inspect(html: str, *, main_only: bool = False, forbid_style_attribute: bool = False) -> Inspector:
    inspector = Inspector(main_only=main_only, forbid_style_attribute=forbid_style_attribute)
    inspector.feed(html)
    inspector.close()
    if main_only:
        assert inspector.saw_main, "the page has no <main> element"
    return inspector


def executable_content(html: str, **kwargs: bool) -> list[str]:
    """Everything in ``html`` that could run script or send the visitor elsewhere."""
    return inspect(html, **kwargs).problems


def visible_text(html: str) -> str:
    """The text inside <main>, entities decoded (what a visitor reads)."""
    return "".join(inspect(html, main_only=True).text)


# --- the corpus and the checker ---------------------------------------------------------------


def test_the_corpus_covers_the_attacks_it_should() -> None:
    assert len(PAYLOADS) >= 25
    ids = [name for name, _ in PAYLOADS]
    assert len(ids) == len(set(ids))
    joined = "\n".join(p for _, p in PAYLOADS).lower()
    for needle in ("<script", "onerror", "javascript:", "vbscript:", "data:", "<svg",
                   "<iframe", "<object", "<embed", "<style", "-->", "&#x61;", "<base", "<form",
                   "http-equiv", "srcset", "[evil]:", "<javascript:", ' href="  javascript',
                   "java\nscript"):
        assert needle in joined, needle
    assert "<SCRIPT" in "\n".join(p for _, p in PAYLOADS)
    assert all(len(p) <= 200 for _, p in PAYLOADS), "titles hold 200 characters"


@pytest.mark.parametrize(
    "html",
    [
        "<script>alert(1)</script>",
        "<SCRIPT>alert(1)</SCRIPT>",
        '<img src="x" onerror="alert(1)">',
        "<svg><circle /></svg>",
        "<p><iframe src=https://example.org></iframe></p>",
        "<object></object>", "<embed>", "<style>p{}</style>", "<base href=/>", "<form></form>",
        '<meta http-equiv="refresh" content="0">',
        '<a href="javascript:alert(1)">x</a>',
        '<a href="JAVASCRIPT:alert(1)">x</a>',
        '<a href="jav&#x61;script:alert(1)">x</a>',
        '<a href=" \x01javascript:alert(1)">x</a>',
        '<a href="java\nscript:alert(1)">x</a>',
        '<a href="java&#x09;script:alert(1)">x</a>',
        '<a href="vbscript:x">x</a>',
        '<img src="data:image/png;base64,AAAA">',
        '<img src="https://example.org/a.png" srcset="https://example.org/b.png 1x, javascript:x 2x">',
    ],
)
def test_the_checker_finds_executable_content(html: str) -> None:
    """The checker is able to fail: each of these must be reported."""
    assert executable_content(html)


@pytest.mark.parametrize(
    "html",
    [
        "<p>Plain <strong>text</strong> with &lt;script&gt;alert(1)&lt;/script&gt; shown as text</p>",
        '<a href="https://example.org/">x</a> <a href="http://example.org/">y</a>',
        '<a href="mailto:office@example.org">mail</a>',
        '<a href="/cases/six-survivors">relative</a> <a href="#main">anchor</a>',
        '<a href="?page=2">query</a> <a href="//example.org/x">protocol-relative</a>',
        '<a href="java script:alert(1)">a space makes it a relative URL</a>',
        '<img src="\ufffdjavascript:alert(1)">',
        "<p>javascript:alert(1) as text is harmless</p>",
    ],
)
def test_the_checker_accepts_inert_html(html: str) -> None:
    assert executable_content(html) == []


# --- render_markdown on its own ---------------------------------------------------------------


@pytest.mark.parametrize("payload", [p for _, p in PAYLOADS], ids=[name for name, _ in PAYLOADS])
def test_render_markdown_leaves_nothing_executable(payload: str) -> None:
    html = str(render_markdown(payload))
    assert executable_content(html, forbid_style_attribute=True) == [], html


def test_render_markdown_keeps_ordinary_content() -> None:
    """The sanitizer is not simply dropping everything: safe Markdown survives."""
    html = str(render_markdown(
        "## Day 3\n\n**Five** still waiting. [Give](https://example.org/give) or "
        "[write](mailto:office@example.org).\n\n![map](https://example.org/map.png)"
    ))
    assert "<h2>Day 3</h2>" in html and "<strong>Five</strong>" in html
    assert 'href="https://example.org/give"' in html and 'href="mailto:office@example.org"' in html
    assert 'src="https://example.org/map.png"' in html
    assert executable_content(html) == []


# --- through the real pages -------------------------------------------------------------------


def _public_case(slug: str, title: str, summary: str):  # noqa: ANN202
    case = case_services.create_case(
        case_services.CaseInput(
            slug=slug, public_title=title, public_region="Northeast China", public_summary=summary,
            goal=Money(1_000_000, current_app.config["TRACKER_BASE_CURRENCY"]),
        ),
        current_app.config["TRACKER_BASE_CURRENCY"],
    )
    case_services.change_status(case, workflow.FUNDRAISING)
    return case


def _check_page(response, where: str, expected_text: list[str]) -> list[str]:  # noqa: ANN001
    """Problems on one page: executable content in <main>, or a text not shown as text."""
    if response.status_code != 200:
        return [f"{where}: status {response.status_code}"]
    html = response.get_data(as_text=True)
    problems = [f"{where}: {p}" for p in executable_content(html, main_only=True)]
    text = visible_text(html)
    problems += [f"{where}: {t!r} is not shown as text" for t in expected_text if t not in text]
    # escaped, not passed through: markup typed by someone never reaches the page verbatim
    problems += [f"{where}: {t!r} appears unescaped" for t in expected_text
                 if "<" in t and t in html]
    return problems


def test_post_and_case_pages_show_every_payload_inert(client, app) -> None:  # noqa: ANN001
    """Each payload as a post's title and Markdown body, and as a case's title and summary."""
    now = utcnow()
    titles = {}
    for i, (_, payload) in enumerate(PAYLOADS):
        title = payload.strip()
        case = _public_case(f"xss-case-{i}", title, payload)
        db.session.add(Post(slug=f"xss-post-{i}", kind="update", title=payload, body_markdown=payload,
                            status="published", published_at=now, cases=[case]))
        titles[i] = title
    db.session.commit()

    problems: list[str] = []
    for i, (name, payload) in enumerate(PAYLOADS):
        post = client.get(f"/posts/xss-post-{i}")
        problems += _check_page(post, f"[{name}] /posts/xss-post-{i}", [payload])
        page = client.get(f"/cases/xss-case-{i}")
        # the case's title, and the linked post's title in the list of appeals and updates
        problems += _check_page(page, f"[{name}] /cases/xss-case-{i}", [titles[i], payload])
    # the home page lists the newest cases (and post titles), the list of cases every one:
    # no page runs any of it, and each title is shown as text on some page of the list
    home = client.get("/")
    problems += _check_page(home, "/", [t for t in titles.values() if t in visible_text(home.text)])
    shown, page = "", 1
    while (answer := client.get(f"/cases?page={page}")).status_code == 200:
        text = visible_text(answer.get_data(as_text=True))
        problems += _check_page(answer, f"/cases?page={page}", [t for t in titles.values() if t in text])
        problems += [f"/cases?page={page}: {t!r} appears unescaped" for t in titles.values()
                     if "<" in t and t in answer.get_data(as_text=True)]
        shown += text
        page += 1
    problems += [f"/cases: {t!r} is not shown as text on any page" for t in titles.values()
                 if t not in shown]
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


#: donor text goes on the wall as it was typed: short enough for the 80-character name field
DONOR_PAYLOADS = [p for _, p in PAYLOADS if len(p.strip()) <= 80 and p.strip() == p][:12]


def test_donor_name_and_message_are_escaped_on_the_case_page(client, app) -> None:  # noqa: ANN001
    _public_case("donor-wall", "Donor wall", "A case with a donor wall.")
    db.session.commit()
    shown = []
    for i, payload in enumerate(DONOR_PAYLOADS):
        name = payload if i % 2 == 0 else f"Donor {i}"
        wall = "name" if i % 2 == 0 else "anonymous"
        donation, session_id = start_gift(client, "donor-wall", name=name, message=payload,
                                          wall=wall)
        assert pay_on_page(client, session_id).status_code == 303
        wall_messages.approve(donation.public_id)  # on the wall once staff approve it
        db.session.commit()
        shown += [name, payload] if wall == "name" else [payload]

    page = client.get("/cases/donor-wall")
    problems = _check_page(page, "/cases/donor-wall", shown)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
    assert len(DONOR_PAYLOADS) >= 10


def test_keeping_hyphenated_words_whole_escapes_the_rest() -> None:
    """The footer's legal name keeps "Non-profit" on one line; whatever else an admin typed
    stays text."""
    from tracker.web.templating import keep_hyphenated

    assert str(keep_hyphenated("Certified Non-profit Corp.")) == (
        'Certified <span class="nowrap">Non-profit</span> Corp.')
    shown = str(keep_hyphenated('<script>x-y</script> "a-b" & c'))
    assert "<script>" not in shown and "&lt;script&gt;" in shown and "&amp; c" in shown
    assert '<span class="nowrap">x-y</span>' in shown and '<span class="nowrap">a-b</span>' in shown
