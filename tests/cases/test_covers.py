"""Cover photos and the face check (tracker.core.faces): a photo with a face is held (not
public, its post not publishable) until staff blur the faces (audited, checked again) or record
the person's consent with a note (audited); covers are public only with their public case,
without metadata, and change the public pages' fingerprints."""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from tests.conftest import csrf_from
from tests.factories import make_case
from tests.posts.helpers import (
    confirm_no_person,
    edit_url,
    jpeg_with_gps,
    only_post,
    photo_from,
    post_form,
    stored_images,
    upload,
)
from tracker.audit import AuditEntry
from tracker.cases import covers
from tracker.cases import services as case_services
from tracker.cases.models import CaseCover
from tracker.core import faces
from tracker.core.errors import DomainError
from tracker.core.images import jpeg_variant
from tracker.demo.covers import landscape
from tracker.extensions import db
from tracker.posts import images
from tracker.site.public import case_fingerprint, listing_fingerprint

FACE = Path(__file__).parent.parent / "fixtures" / "drawn_face.png"
MARKER = "SAFEHOUSE-c0v3r"


def face_photo(size=(900, 600)) -> bytes:
    """A colour JPEG with the drawn face in it (see tests/fixtures/README.md)."""
    scene = Image.new("RGB", size, (110, 150, 190))
    scene.paste(Image.open(FACE).convert("RGB"), (size[0] // 2 - 120, size[1] // 2 - 120))
    out = BytesIO()
    scene.save(out, "JPEG", quality=88)
    return out.getvalue()


@pytest.fixture
def staff(client, auth, make_user):
    user, password = make_user("staff")
    assert auth.login(user.email, password).status_code == 302
    return user


@pytest.fixture
def case(app):
    made = make_case("mountain-pass", people=2, status="fundraising")
    case_services.publish(made)
    db.session.commit()
    return made


def upload_cover(client, case_id: int, data: bytes, alt: str = "A road between green hills"):
    form = {"alt_text": alt,
            "photo": FileStorage(BytesIO(data), filename="cover.jpg", content_type="image/jpeg"),
            "csrf_token": csrf_from(client.get(f"/staff/cases/{case_id}").text)}
    boundary, body = encode_multipart(form)
    return client.post(f"/staff/cases/{case_id}/cover", data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")


def the_cover() -> CaseCover | None:
    db.session.expire_all()
    return db.session.scalar(db.select(CaseCover))


def actions(prefix: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(AuditEntry).where(AuditEntry.action.like(prefix))
                                   .order_by(AuditEntry.id)))


# --- the check itself ---------------------------------------------------------------------------


def test_the_drawn_face_is_found_and_a_generated_landscape_is_clear():
    status, regions = faces.check(face_photo())
    assert status == faces.HELD and len(regions) == 1
    x, y, w, h = regions[0]
    assert 300 <= x + w // 2 <= 600 and 150 <= y + h // 2 <= 450  # where the face was pasted
    for seed in range(4):
        out = BytesIO()
        landscape(seed).save(out, "JPEG")
        assert faces.check(out.getvalue()) == (faces.UNREVIEWED, [])


def test_blurring_the_stored_regions_removes_the_detection_and_is_deterministic():
    data = face_photo()
    _, regions = faces.check(data)
    once = faces.blur_regions(data, "image/jpeg", regions)
    assert once == faces.blur_regions(data, "image/jpeg", regions)
    assert faces.check(once) == (faces.UNREVIEWED, [])


# --- covers ---------------------------------------------------------------------------------------


def confirm_cover(client, case_id: int, looked: bool = True):
    """Confirm on the case's staff page that no person can be recognised in its cover."""
    page = client.get(f"/staff/cases/{case_id}").text
    review = client.get(f"/staff/cases/{case_id}/cover/review").text
    data = {"csrf_token": csrf_from(page), "looked_at": photo_from(review)}
    if looked:
        data["looked"] = "y"
    return client.post(f"/staff/cases/{case_id}/cover/no-person", data=data)


def public_cover_state(client, case) -> tuple[str | None, int, int, bool]:
    """What the public sees of the case's cover: og:image, both sizes' status, on the home."""
    db.session.expire_all()
    cover = db.session.scalar(db.select(CaseCover))
    page = client.get(f"/cases/{case.slug}").text
    match = re.search(r'<meta property="og:image" content="([^"]+)">', page)
    sizes = [client.get(f"/cases/{case.slug}/cover/{cover.token}-{size}.jpg").status_code
             for size in ("page", "card")]
    return (match.group(1) if match else None, *sizes,
            f"{cover.token}-card.jpg" in client.get("/").text)


def test_a_cover_with_no_face_found_is_public_only_once_staff_confirm_no_person(
        client, auth, app, staff, case):
    before_list, before_case = listing_fingerprint(), case_fingerprint(case.slug)
    response = upload_cover(client, case.id, jpeg_with_gps(MARKER, (2400, 1600)))
    assert response.status_code == 302 and response.location.endswith("/cover/review")
    cover = the_cover()
    assert cover.face_status == faces.UNREVIEWED and (cover.width, cover.card_width) == (1200, 480)
    # nothing public moved: the page, its preview, the image addresses and the lists hide it
    assert (listing_fingerprint(), case_fingerprint(case.slug)) == (before_list, before_case)
    anonymous = app.test_client()
    assert public_cover_state(anonymous, case) == (None, 404, 404, False)
    assert "cover-state" not in anonymous.get(f"/cases/{case.slug}").text
    # the review page shows the photo and the confirmation; the staff page says it waits
    review = client.get(f"/staff/cases/{case.id}/cover/review").text
    assert "review-photo" in review and "no-person-form" in review and "review-boxes" not in review
    detail = client.get(f"/staff/cases/{case.id}").text
    assert 'data-state="unreviewed"' in detail and "cover-no-person" in detail
    # an unticked box changes nothing
    refused = confirm_cover(client, case.id, looked=False)
    assert refused.status_code == 422 and "Tick the box to confirm that you looked" in refused.text
    assert the_cover().face_status == faces.UNREVIEWED
    assert public_cover_state(anonymous, case)[1:] == (404, 404, False)
    # confirmed: shown everywhere, audited with who and which choice
    assert confirm_cover(client, case.id).status_code == 302
    cover = the_cover()
    assert cover.face_status == faces.NO_PERSON
    [entry] = [e for e in actions("case.cover%") if e.action == "case.cover_no_person"]
    assert entry.actor_id == staff.id and entry.actor_label == staff.email
    assert entry.before["face_status"] == "unreviewed" and entry.after["face_status"] == "no_person"
    assert entry.created_at is not None and entry.case_id == case.id
    assert listing_fingerprint() != before_list and case_fingerprint(case.slug) != before_case
    page_url = f"/cases/{case.slug}/cover/{cover.token}-page.jpg"
    assert public_cover_state(anonymous, case) == (f"http://localhost{page_url}", 200, 200, True)
    page = anonymous.get(f"/cases/{case.slug}").text
    assert '<meta property="og:image:width" content="1200">' in page
    assert 'content="summary_large_image"' in page
    assert 'alt="A road between green hills" width="1200" height="800"' in page
    assert f"{cover.token}-card.jpg" in anonymous.get("/cases").text
    for size in ("page", "card"):
        served = anonymous.get(f"/cases/{case.slug}/cover/{cover.token}-{size}.jpg")
        assert served.status_code == 200 and served.mimetype == "image/jpeg"
        assert MARKER.encode() not in served.data and b"Exif" not in served.data
        assert b"MarkerPhoneMaker" not in served.data
        assert not Image.open(BytesIO(served.data)).getexif()
    assert 'data-state="no_person"' in client.get(f"/staff/cases/{case.id}").text
    # nothing left to decide: a second confirmation is refused in words
    again = confirm_cover(client, case.id)
    assert again.status_code == 422 and "already reviewed" in again.text, again.text


def test_a_held_cover_cannot_be_waved_through_as_no_person(client, staff, case):
    upload_cover(client, case.id, face_photo())
    refused = confirm_cover(client, case.id)
    assert refused.status_code == 422 and "The check found a face" in refused.text
    assert the_cover().face_status == faces.HELD


def test_staff_mark_an_area_the_check_missed_and_blur_it(client, staff, case):
    upload_cover(client, case.id, jpeg_with_gps(MARKER, (1200, 800)))
    url = f"/staff/cases/{case.id}/cover/mark"
    page = client.get(f"/staff/cases/{case.id}/cover/review").text
    csrf, seen = csrf_from(page), photo_from(page)
    refused = client.post(url, data={"csrf_token": csrf, "looked_at": seen, "left": "80", "top": "10",
                                     "width": "40", "height": "x"})
    assert refused.status_code == 422 and "numbers from 0 to 100" in refused.text
    assert the_cover().face_status == faces.UNREVIEWED
    ok = client.post(url, data={"csrf_token": csrf, "looked_at": seen, "left": "10", "top": "20",
                                "width": "25", "height": "50"})
    assert ok.status_code == 302 and ok.location.endswith("/cover/review")
    cover = the_cover()
    assert cover.face_status == faces.HELD and cover.face_regions == [[120, 160, 300, 400]]
    assert "review-preview" in client.get(f"/staff/cases/{case.id}/cover/review").text
    assert client.post(f"/staff/cases/{case.id}/cover/blur",
                       data={"csrf_token": csrf, "looked_at": seen}).status_code == 302
    assert the_cover().face_status == faces.BLURRED
    assert [e.action for e in actions("case.cover%")][-2:] == ["case.cover_area_marked",
                                                                "case.cover_blurred"]


def test_a_case_without_a_cover_answers_404_on_every_review_address(client, staff, case):
    for kind in ("page", "boxes", "preview", "other"):
        assert client.get(f"/staff/cases/{case.id}/cover/{kind}.jpg").status_code == 404, kind
    assert client.get(f"/staff/cases/{case.id}/cover/review").status_code == 404
    csrf = csrf_from(client.get(f"/staff/cases/{case.id}").text)
    for decision in ("no-person", "consent", "mark", "blur"):
        response = client.post(f"/staff/cases/{case.id}/cover/{decision}",
                               data={"csrf_token": csrf, "looked": "y"})
        assert response.status_code == 404, decision
    for case_id in (case.id + 1000, 2**63, 10**30):
        assert client.get(f"/staff/cases/{case_id}/cover/boxes.jpg").status_code == 404, case_id


def test_the_dashboard_lists_every_photo_awaiting_review(client, staff, case):
    assert "Photos awaiting review (0)" in client.get("/staff/").text
    upload_cover(client, case.id, jpeg_with_gps(MARKER))
    assert post_form(client).status_code == 302
    post = only_post()
    upload(client, post.slug, face_photo())
    [image] = stored_images()
    page = client.get("/staff/").text
    assert "Photos awaiting review (2)" in page
    assert f'href="/staff/cases/{case.id}/cover/review"' in page
    assert f'href="/staff/posts/{post.slug}/photos/{image.id}/review"' in page
    assert "no face found: look at it" in page and "a face was found" in page
    confirm_cover(client, case.id)
    page = client.get("/staff/").text
    assert "Photos awaiting review (1)" in page
    assert f'href="/staff/cases/{case.id}/cover/review"' not in page


def test_the_covers_description_is_in_the_language_of_the_case_texts_beside_it(client, auth, staff, case):
    """Staff describe the photo in English (the case's source language). A Japanese page that
    shows the case's Japanese texts describes it in Japanese from the public title, never in
    English; a Japanese page that shows the English texts keeps the English, marked lang="en"."""
    assert upload_cover(client, case.id, jpeg_with_gps(MARKER, (1200, 800)),
                        alt="A road between green hills").status_code == 302
    confirm_cover(client, case.id)  # staff looked: no person can be recognized
    auth.logout()
    english_alt = 'alt="A road between green hills"'
    english = client.get(f"/cases/{case.slug}?lang=en").text
    assert english_alt in english
    assert '<meta property="og:image:alt" content="A road between green hills">' in english
    fallback = client.get(f"/cases/{case.slug}?lang=ja").text
    assert f'{english_alt} lang="en"' in fallback
    assert f'{english_alt} lang="en"' in client.get("/?lang=ja").text

    case.public_title_ja = "山あいの道"
    case.public_summary_ja = "二人が安全な場所を目指しています。"
    case.public_region_ja = "東アジア"
    db.session.commit()
    japanese = client.get(f"/cases/{case.slug}?lang=ja").text
    assert 'alt="「山あいの道」の写真"' in japanese
    assert '<meta property="og:image:alt" content="「山あいの道」の写真">' in japanese
    assert "green hills" not in japanese
    home = client.get("/?lang=ja").text
    assert 'alt="「山あいの道」の写真"' in home and "green hills" not in home
    # the English page still has what staff wrote
    assert english_alt in client.get(f"/cases/{case.slug}?lang=en").text


def test_a_hidden_case_cover_answers_404_to_everyone(client, auth, staff, case):
    upload_cover(client, case.id, jpeg_with_gps(MARKER))
    confirm_cover(client, case.id)
    token = the_cover().token
    assert client.get(f"/cases/{case.slug}/cover/{token}-card.jpg").status_code == 200
    case_services.unpublish(case_services.get_case_for_update(case.id))
    db.session.commit()
    assert client.get(f"/cases/{case.slug}/cover/{token}-card.jpg").status_code == 404  # staff too
    auth.logout()
    assert client.get(f"/cases/{case.slug}/cover/{token}-page.jpg").status_code == 404
    assert client.get(f"/cases/other/cover/{token}-page.jpg").status_code == 404


def test_a_cover_with_a_face_is_held_then_blurred_and_audited(client, auth, staff, case):
    response = upload_cover(client, case.id, face_photo())
    assert response.status_code == 302 and response.location.endswith("/cover/review")
    cover = the_cover()
    assert cover.face_status == faces.HELD and len(cover.face_regions) == 1
    token = cover.token
    review = client.get(f"/staff/cases/{case.id}/cover/review").text
    assert "review-boxes" in review and "review-preview" in review
    preview = client.get(f"/staff/cases/{case.id}/cover/preview.jpg")
    assert preview.headers["Cache-Control"] == "private, no-store"
    assert faces.check(preview.data) == (faces.UNREVIEWED, [])
    # held: not on the public page, its address 404
    auth.logout()
    assert client.get(f"/cases/{case.slug}/cover/{token}-page.jpg").status_code == 404
    assert "og:image" not in client.get(f"/cases/{case.slug}").text
    assert client.post(f"/staff/cases/{case.id}/cover/blur").status_code in (302, 400, 403)
    assert the_cover().face_status == faces.HELD  # anonymous: nothing changed


def test_blur_applies_the_preview_and_is_audited(client, staff, case):
    upload_cover(client, case.id, face_photo())
    regions = the_cover().face_regions
    preview = client.get(f"/staff/cases/{case.id}/cover/preview.jpg").data
    page = client.get(f"/staff/cases/{case.id}/cover/review").text
    response = client.post(f"/staff/cases/{case.id}/cover/blur",
                           data={"csrf_token": csrf_from(page), "looked_at": photo_from(page)})
    assert response.status_code == 302
    cover = the_cover()
    assert cover.face_status == faces.BLURRED and cover.face_regions is None
    assert cover.data == preview  # exactly what staff saw
    [entry] = [e for e in actions("case.cover%") if e.action == "case.cover_blurred"]
    assert entry.after["regions_blurred"] == regions and entry.actor_id == staff.id
    assert client.get(f"/cases/{case.slug}/cover/{cover.token}-page.jpg").status_code == 200


def test_consent_needs_the_box_and_a_note_and_is_audited(client, staff, case):
    upload_cover(client, case.id, face_photo())
    url = f"/staff/cases/{case.id}/cover/consent"
    page = client.get(f"/staff/cases/{case.id}/cover/review").text
    csrf, seen = csrf_from(page), photo_from(page)
    refused = client.post(url, data={"csrf_token": csrf, "looked_at": seen, "face_note": "Agreed"})
    assert refused.status_code == 422 and "Tick the box" in refused.text
    refused = client.post(url, data={"csrf_token": csrf, "looked_at": seen, "agreed": "y",
                                     "face_note": "  "})
    assert refused.status_code == 422 and "Write how the person agreed" in refused.text
    assert the_cover().face_status == faces.HELD
    assert not [e for e in actions("case.cover%") if e.action == "case.cover_consented"]
    ok = client.post(url, data={"csrf_token": csrf, "looked_at": seen, "agreed": "y",
                                "face_note": "Signed form kept at the office"})
    assert ok.status_code == 302
    cover = the_cover()
    assert cover.face_status == faces.CONSENTED and cover.face_note == "Signed form kept at the office"
    [entry] = [e for e in actions("case.cover%") if e.action == "case.cover_consented"]
    assert entry.after["note"] == "Signed form kept at the office"


@pytest.mark.parametrize("role", [None, "director"])
def test_cover_routes_are_staff_only(client, auth, make_user, case, role):
    covers.store_cover(case, face_photo(), "A person", None)
    db.session.commit()
    if role:
        user, password = make_user(role)
        auth.login(user.email, password)
    for method, path in (("get", "review"), ("get", "preview.jpg"), ("get", "boxes.jpg"),
                         ("post", "blur"), ("post", "consent"), ("post", "no-person"), ("post", "mark")):
        response = getattr(client, method)(f"/staff/cases/{case.id}/cover/{path}")
        assert response.status_code in (302, 403, 400), (path, response.status_code)
        if response.status_code == 302:
            assert "/login" in response.location
    assert the_cover().face_status == faces.HELD


def test_the_lists_load_covers_in_one_statement(app, case):
    other = make_case("river-crossing", status="fundraising")
    case_services.publish(other)
    covers.store_cover(case, jpeg_with_gps(MARKER), "Hills", None)
    covers.store_cover(other, jpeg_with_gps(MARKER), "A river", None)
    db.session.commit()
    assert covers.public_covers([case.id, other.id]) == {}  # nobody looked yet
    for each in (case, other):
        covers.review_cover(each, faces.CONFIRM_NO_PERSON, {"looked": True})
    db.session.commit()
    found = covers.public_covers([case.id, other.id])
    assert set(found) == {case.id, other.id} and found[other.id].alt_text == "A river"


# --- post photos ------------------------------------------------------------------------------------


def test_a_held_post_photo_blocks_publishing_until_blurred(client, auth, staff):
    assert post_form(client).status_code == 302
    post = only_post()
    assert upload(client, post.slug, face_photo()).status_code == 302
    [image] = stored_images()
    assert image.face_status == faces.HELD
    # publishing is refused with a form error, and nothing changes
    refused = post_form(client, edit_url(post.slug), publish="publish")
    assert refused.status_code in (409, 422) and "shows a face and is held" in refused.text
    assert only_post().status == "draft"
    # not public: staff see it, nobody else does
    name = f"/images/{image.token}.jpg"
    assert client.get(name).status_code == 200
    review = f"/staff/posts/{post.slug}/photos/{image.id}"
    assert faces.check(client.get(f"{review}/preview.img").data)[0] == faces.UNREVIEWED
    page = client.get(f"{review}/review").text
    assert client.post(f"{review}/blur", data={"csrf_token": csrf_from(page),
                                               "looked_at": photo_from(page)}).status_code == 302
    [image] = stored_images()
    assert image.face_status == faces.BLURRED
    assert [e.action for e in actions("post.image%")][-1] == "post.image_blurred"
    assert post_form(client, edit_url(post.slug), publish="publish").status_code == 302
    assert only_post().status == "published"
    auth.logout()
    served = client.get(name)  # the same name: the Markdown pasted into the post still works
    assert served.status_code == 200 and served.data == image.data
    assert faces.check(served.data) == (faces.UNREVIEWED, [])


def test_a_held_post_photo_is_not_public_and_consent_releases_it(client, auth, staff):
    assert post_form(client, publish="publish").status_code == 302
    post = only_post()
    upload(client, post.slug, face_photo())
    [image] = stored_images()
    auth.logout()
    assert client.get(f"/images/{image.token}.jpg").status_code == 404
    assert "og:image" not in client.get(f"/posts/{post.slug}").text
    images.consent_image(image, post, True, "Agreed on camera, recorded")
    db.session.commit()
    assert client.get(f"/images/{image.token}.jpg").status_code == 200
    entry = actions("post.image%")[-1]
    assert entry.action == "post.image_consented" and entry.after["note"] == "Agreed on camera, recorded"
    with pytest.raises(DomainError):  # nothing left to confirm
        images.consent_image(image, post, True, "Again")


def test_a_held_upload_leaves_the_public_fingerprints_and_its_release_moves_them(app, case):
    before = (listing_fingerprint(), case_fingerprint(case.slug))
    covers.store_cover(case, face_photo(), "A person by the river", None)
    db.session.commit()
    assert (listing_fingerprint(), case_fingerprint(case.slug)) == before  # nothing public moved
    covers.blur_cover(case)
    db.session.commit()
    assert listing_fingerprint() != before[0] and case_fingerprint(case.slug) != before[1]
    assert covers.public_covers([case.id])[case.id].alt_text == "A person by the river"


def test_post_photo_review_routes_are_staff_only(client, auth, make_user, staff):
    assert post_form(client).status_code == 302
    post = only_post()
    upload(client, post.slug, face_photo())
    [image] = stored_images()
    auth.logout()
    director, password = make_user("director")
    base = f"/staff/posts/{post.slug}/photos/{image.id}"
    for signed_in in (False, True):
        if signed_in:
            auth.login(director.email, password)
        for method, path in (("get", "review"), ("get", "preview.img"), ("get", "boxes.img"),
                             ("post", "blur"), ("post", "consent"), ("post", "no-person"), ("post", "mark")):
            response = getattr(client, method)(f"{base}/{path}")
            assert response.status_code in (302, 400, 403), (path, response.status_code)
            if response.status_code == 302:
                assert "/login" in response.location
    assert stored_images()[0].face_status == faces.HELD


def test_a_post_photo_with_no_face_found_is_public_only_once_staff_confirm_no_person(
        client, app, staff):
    assert post_form(client, publish="publish").status_code == 302  # a post already public
    post = only_post()
    response = upload(client, post.slug, jpeg_with_gps(MARKER, (900, 600)))
    assert response.status_code == 302 and response.location.endswith("/review")
    [image] = stored_images()
    assert image.face_status == faces.UNREVIEWED
    name = f"/images/{image.token}.jpg"
    anonymous = app.test_client()
    assert anonymous.get(name).status_code == 404
    assert "og:image" not in anonymous.get(f"/posts/{post.slug}").text
    edit = client.get(edit_url(post.slug)).text
    assert 'data-state="unreviewed"' in edit and "photo-no-person" in edit
    refused = confirm_no_person(client, post.slug, image.id, looked=False)
    assert refused.status_code == 422 and "Tick the box to confirm that you looked" in refused.text
    assert anonymous.get(name).status_code == 404
    assert confirm_no_person(client, post.slug, image.id).status_code == 302
    assert stored_images()[0].face_status == faces.NO_PERSON
    entry = actions("post.image%")[-1]
    assert entry.action == "post.image_no_person" and entry.actor_id == staff.id
    assert entry.after == {"image_id": image.id, "face_status": "no_person"}
    served = anonymous.get(name)
    assert served.status_code == 200 and MARKER.encode() not in served.data
    page = anonymous.get(f"/posts/{post.slug}").text
    assert f'<meta property="og:image" content="http://localhost{name}">' in page


def test_small_faces_in_a_large_photo_are_found_at_the_size_they_are_shown():
    """From the outside try: three faces 140 px wide in a 4000 px photo are about 42 px wide
    in the 1200 px cover that is shown, and were not looked for at that size (the check read
    an 800 px copy and skipped faces under 26 px there). The cover as stored is held."""
    scene = Image.new("RGB", (4000, 2667), (120, 150, 110))
    face = Image.open(FACE).convert("RGB").resize((140, 140))
    for n in range(3):
        scene.paste(face, (1000 * (n + 1) - 70, 1300))
    out = BytesIO()
    scene.save(out, "JPEG", quality=90)
    page, width, _height = jpeg_variant(out.getvalue(), 1200)
    assert width == 1200
    status, regions = faces.check(page)
    assert status == faces.HELD and len(regions) == 3
    assert all(15 <= w <= 60 for _x, _y, w, _h in regions), regions


def test_a_decision_names_the_photo_staff_looked_at(client, auth, staff, case):
    """From the outside try: staff A opened the case page with photo P1 awaiting review, staff
    B then uploaded P2, and A's "no person can be recognized" made P2 public unseen (the form
    named no photo). Every decision now carries the photo's review version: one about another
    photo is refused (409), says so, changes nothing, and shows the photo stored now."""
    upload_cover(client, case.id, jpeg_with_gps(MARKER, (1200, 800)))
    page = client.get(f"/staff/cases/{case.id}").text
    first_look = photo_from(page)
    assert first_look
    upload_cover(client, case.id, face_photo((1200, 800)))      # B replaces it meanwhile
    upload_cover(client, case.id, jpeg_with_gps(MARKER, (1000, 700)))  # another photo
    replaced = the_cover()
    assert replaced.face_status == faces.UNREVIEWED
    stale = client.post(f"/staff/cases/{case.id}/cover/no-person",
                        data={"csrf_token": csrf_from(page), "looked_at": first_look, "looked": "y"})
    assert stale.status_code == 409 and "photo changed" in stale.text
    assert 'data-testid="review-photo"' in stale.text       # the photo stored now, to look at
    assert the_cover().face_status == faces.UNREVIEWED
    assert not [e for e in actions("case.cover%") if e.action == "case.cover_no_person"]
    missing = client.post(f"/staff/cases/{case.id}/cover/no-person",
                          data={"csrf_token": csrf_from(page), "looked": "y"})
    assert missing.status_code == 409 and the_cover().face_status == faces.UNREVIEWED
    assert confirm_cover(client, case.id).status_code == 302    # after looking again
    assert the_cover().face_status == faces.NO_PERSON
