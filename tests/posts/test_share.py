"""Link previews (Open Graph) and share links on case and post pages: public fields only.

A shared link is how most donors arrive, so the preview a messenger app shows must say what
the page is about, and must never carry anything staff-only.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote

from tests.factories import make_case
from tests.posts.helpers import edit_url, jpeg_with_gps, only_post, post_form, upload_reviewed
from tracker.extensions import db

PRIVATE = "PRIVATE-SAFEHOUSE-Shenyang-street-12"


def meta(page: str, name: str) -> str | None:
    """The content of <meta property|name=name> in the page's head, unescaped."""
    head = page.split("</head>", 1)[0]
    match = re.search(rf'<meta (?:property|name)="{re.escape(name)}" content="([^"]*)">', head)
    return html.unescape(match.group(1)) if match else None


def test_a_case_page_previews_its_public_story_and_nothing_private(app, client) -> None:
    case = make_case("six-survivors", status="fundraising", people=2,
                     public_summary="Six people hid **for months** near the border. " + "Word " * 80,
                     private_notes=PRIVATE, private_contact=PRIVATE)
    person = case.beneficiaries[0]
    person.private_name = PRIVATE
    db.session.commit()

    page = client.get("/cases/six-survivors").text
    assert meta(page, "og:title") == "Six survivors"
    assert meta(page, "og:url") == "http://localhost/cases/six-survivors"
    description = meta(page, "og:description")
    assert description.startswith("Six people hid for months near the border. Word")
    assert "**" not in description and len(description) <= 201 and description.endswith("…")
    assert meta(page, "description") == description
    assert meta(page, "og:image") is None and meta(page, "twitter:card") == "summary"
    assert PRIVATE not in page
    encoded = quote("http://localhost/cases/six-survivors", safe="/")
    assert f'href="https://social-plugins.line.me/lineit/share?url={encoded}"' in page
    assert 'id="share-url" type="url" value="http://localhost/cases/six-survivors" readonly' in page


def test_a_case_without_a_summary_is_previewed_by_its_region(app, client) -> None:
    make_case("quiet-case", status="fundraising", public_summary="")
    page = client.get("/cases/quiet-case").text
    assert meta(page, "og:description") == "A rescue in Northeast China"


def test_markup_in_a_public_title_stays_text_in_the_preview(app, client) -> None:
    case = make_case("odd-title", status="fundraising")
    case.public_title = '"><script>alert(1)</script> & friends'
    db.session.commit()
    page = client.get("/cases/odd-title").text
    assert "<script>alert(1)</script>" not in page
    assert meta(page, "og:title") == '"><script>alert(1)</script> & friends'


def test_a_post_previews_its_first_public_photo(app, client, staff) -> None:
    assert post_form(client, body_markdown="They crossed *safely*.").status_code == 302
    post = only_post()
    upload_reviewed(client, post.slug, jpeg_with_gps("marker"))
    assert post_form(client, edit_url(post.slug), body_markdown="They crossed *safely*.",
                     publish="publish").status_code == 302
    public = client.get(f"/posts/{post.slug}")
    assert public.status_code == 200
    image = meta(public.text, "og:image")
    assert image and re.fullmatch(r"http://localhost/images/[A-Za-z0-9_-]+\.jpg", image)
    assert client.get(image.removeprefix("http://localhost")).status_code == 200
    assert meta(public.text, "og:description") == "They crossed safely."
    assert meta(public.text, "twitter:card") == "summary_large_image"


def test_a_made_up_host_header_does_not_reach_the_page_others_get(app, client) -> None:
    """Case pages are cached per worker: the absolute links in them must follow each
    request's own host, never one an earlier request made up."""
    make_case("cached-case", status="fundraising")
    poisoned = client.get("/cases/cached-case", headers={"Host": "evil.example"}).text
    assert meta(poisoned, "og:url") == "http://evil.example/cases/cached-case"
    page = client.get("/cases/cached-case").text
    assert meta(page, "og:url") == "http://localhost/cases/cached-case"
    assert "evil.example" not in page
