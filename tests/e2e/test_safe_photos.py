"""In a real browser: staff upload a cover photo with a face; it is held (the faces found are
framed), staff look at the blurred preview, apply it, and the public case page then shows the
cover and names it in its link preview; a cover the check finds no face in waits until staff
confirm that no person can be recognised. Axe finds nothing serious and nothing scrolls
sideways on a 390 px phone."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PHONE, axe_violations, sign_in
from tests.factories import make_case
from tracker.cases import services as case_services
from tracker.cases import workflow
from tracker.core import faces
from tracker.demo.covers import landscape
from tracker.extensions import db

pytestmark = pytest.mark.e2e

FACE = Path(__file__).resolve().parents[1] / "fixtures" / "drawn_face.png"
GPS_MARKER = "EXIF-MARKER-COVER-77"


def _photo_with_a_face(path: Path) -> None:
    """A JPEG with the drawn face (tests/fixtures/README.md), a GPS position and a marker."""
    scene = Image.new("RGB", (1000, 700), (120, 160, 200))
    scene.paste(Image.open(FACE).convert("RGB"), (380, 230))
    exif = Image.Exif()
    exif[0x010E] = GPS_MARKER  # ImageDescription
    exif[0x8825] = {1: "N", 2: (35.0, 41.0, 22.0), 3: "E", 4: (139.0, 41.0, 30.0)}  # GPSInfo
    scene.save(path, "JPEG", exif=exif.tobytes(), quality=90)


def _fits_a_phone(page: Page) -> None:
    page.set_viewport_size(PHONE)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide on a phone"


def _no_serious_axe(page: Page) -> None:
    found = axe_violations(page)
    assert not found, f"{page.url}:\n{found}"


def test_staff_blur_a_face_on_a_cover_before_the_public_sees_it(
    app: Flask, make_user, new_context, snap, tmp_path,  # noqa: ANN001
) -> None:
    case = make_case("e2e-cover-case", people=2, status=workflow.FUNDRAISING,
                     public_title="Two waiting at the river")
    case_services.publish(case)
    db.session.commit()
    case_id = case.id
    user, password = make_user("staff")
    photo = tmp_path / "IMG_0042.jpg"
    _photo_with_a_face(photo)
    assert faces.check(photo.read_bytes())[0] == faces.HELD  # the fixture really shows a face

    staff = new_context().new_page()
    sign_in(staff, user.email, password)
    staff.goto(f"/staff/cases/{case_id}")
    staff.locator("#cover").get_by_label("Photo", exact=True).set_input_files(str(photo))
    staff.locator("#cover").get_by_label("Description (alt text)").fill("The river bank at dawn")
    staff.get_by_role("button", name="Upload the cover photo").click()

    # held: the review page frames the face found and previews the blur
    expect(staff).to_have_url(re.compile(rf"/staff/cases/{case_id}/cover/review"))
    expect(staff.get_by_test_id("review-state")).to_contain_text("the face check found 1 face")
    boxes = staff.get_by_test_id("review-boxes")
    preview = staff.get_by_test_id("review-preview")
    for image in (boxes, preview):
        expect(image).to_be_visible()
        staff.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    framed = staff.request.get(boxes.get_attribute("src")).body()
    blurred_preview = staff.request.get(preview.get_attribute("src")).body()
    assert faces.check(blurred_preview)[0] == faces.UNREVIEWED  # what the preview shows passes
    assert framed != blurred_preview
    _no_serious_axe(staff)
    _fits_a_phone(staff)
    snap(staff, "cover-held-review")

    # the public does not see a held cover
    visitor = new_context().new_page()
    visitor.goto("/cases/e2e-cover-case")
    expect(visitor.locator("img.case-cover")).to_have_count(0)
    assert visitor.locator('meta[property="og:image"]').count() == 0

    staff.set_viewport_size({"width": 1280, "height": 900})
    staff.get_by_role("button", name="Blur as previewed").click()
    expect(staff.locator(".flash-success")).to_contain_text("blurred")
    expect(staff.get_by_test_id("cover-state")).to_contain_text("Reviewed: faces blurred")
    _no_serious_axe(staff)
    _fits_a_phone(staff)
    snap(staff, "cover-blurred-staff")

    visitor.goto("/cases/e2e-cover-case")
    cover = visitor.locator("img.case-cover")
    expect(cover).to_have_count(1)
    expect(cover).to_have_attribute("alt", "The river bank at dawn")
    expect(cover).to_have_attribute("width", re.compile(r"^\d+$"))
    expect(cover).to_have_attribute("height", re.compile(r"^\d+$"))
    og_image = visitor.locator('meta[property="og:image"]').get_attribute("content")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/cases/e2e-cover-case/cover/[\w-]+-page\.jpg", og_image)
    assert visitor.locator('meta[name="twitter:card"]').get_attribute("content") == "summary_large_image"
    served = visitor.request.get(og_image)
    assert served.status == 200
    body = served.body()
    assert GPS_MARKER.encode() not in body and b"Exif" not in body
    assert not Image.open(io.BytesIO(body)).getexif()
    assert faces.check(body)[0] == faces.UNREVIEWED  # the same pixels staff previewed
    visitor.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=cover.element_handle())
    _no_serious_axe(visitor)
    _fits_a_phone(visitor)
    snap(visitor, "case-page-with-cover")

    visitor.goto("/")
    card = visitor.locator(".case-card img.case-cover")
    expect(card).to_have_count(1)
    expect(card).to_have_attribute("loading", "lazy")
    _no_serious_axe(visitor)
    _fits_a_phone(visitor)
    snap(visitor, "home-with-cover")


def test_a_cover_with_no_face_found_waits_until_staff_confirm_no_person(
    app: Flask, make_user, new_context, tmp_path,  # noqa: ANN001
) -> None:
    """The face check misses faces: a cover it finds nothing in is still not public until a
    person on the staff looks at it and confirms, from the case's staff page."""
    case = make_case("e2e-landscape-case", people=1, status=workflow.FUNDRAISING,
                     public_title="One waiting in the hills")
    case_services.publish(case)
    db.session.commit()
    case_id = case.id
    user, password = make_user("staff")
    photo = tmp_path / "hills.jpg"
    landscape(7).save(photo, "JPEG", quality=90)
    assert faces.check(photo.read_bytes())[0] == faces.UNREVIEWED

    staff = new_context().new_page()
    sign_in(staff, user.email, password)
    staff.goto(f"/staff/cases/{case_id}")
    staff.locator("#cover").get_by_label("Photo", exact=True).set_input_files(str(photo))
    staff.locator("#cover").get_by_label("Description (alt text)").fill("Hills under a pale sky")
    staff.get_by_role("button", name="Upload the cover photo").click()
    expect(staff).to_have_url(re.compile(rf"/staff/cases/{case_id}/cover/review"))
    expect(staff.get_by_test_id("review-state")).to_contain_text("found no face, but it misses some")
    expect(staff.get_by_test_id("review-photo")).to_be_visible()

    visitor = new_context().new_page()
    visitor.goto("/cases/e2e-landscape-case")
    expect(visitor.locator("img.case-cover")).to_have_count(0)
    assert visitor.locator('meta[property="og:image"]').count() == 0

    # from the case's staff page: the state in words, and the confirmation right there
    staff.goto(f"/staff/cases/{case_id}")
    expect(staff.get_by_test_id("cover-state")).to_contain_text("Awaiting review")
    inline = staff.get_by_test_id("cover-no-person")
    inline.get_by_role("button", name="Confirm and show the photo").click()
    expect(staff.get_by_test_id("review-state")).to_contain_text("Awaiting review")  # box unticked
    staff.get_by_label("I have looked: no person can be recognized in this photo").check()
    staff.get_by_test_id("no-person-form").get_by_role("button",
                                                       name="Confirm and show the photo").click()
    expect(staff.locator(".flash-success")).to_contain_text("no person can be recognized")
    expect(staff.get_by_test_id("cover-state")).to_contain_text(
        "Reviewed: no person can be recognized")
    _no_serious_axe(staff)

    visitor.goto("/cases/e2e-landscape-case")
    expect(visitor.locator("img.case-cover")).to_have_count(1)
    assert visitor.locator('meta[property="og:image"]').count() == 1
