"""In a real browser: staff write a post, upload a photo and publish it; the post and its photo
appear on the case page, and the photo that reaches the public carries no EXIF or GPS."""

from __future__ import annotations

import io
import re

import pytest
from flask import Flask
from PIL import Image
from playwright.sync_api import expect

from tests.factories import make_case
from tracker.cases import workflow

pytestmark = pytest.mark.e2e

GPS_MARKER = "EXIF-MARKER-SAFE-HOUSE-42"


def _photo_with_gps(path) -> None:  # noqa: ANN001
    """A JPEG carrying camera details, a description marker and a GPS position."""
    image = Image.new("RGB", (2400, 1200), (40, 120, 90))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x010E] = GPS_MARKER  # ImageDescription
    exif[0x8825] = {1: "N", 2: (35.0, 41.0, 22.0), 3: "E", 4: (139.0, 41.0, 30.0)}  # GPSInfo
    image.save(path, "JPEG", exif=exif.tobytes())


def test_staff_publish_a_post_with_a_photo_and_it_appears_on_the_case_page(
    app: Flask, make_user, new_context, snap, tmp_path,  # noqa: ANN001
) -> None:
    case = make_case("e2e-photo-case", people=2, status=workflow.FUNDRAISING,
                     public_title="Two waiting at the border")
    case_id = case.id
    user, password = make_user("staff")
    photo = tmp_path / "IMG_0001.jpg"
    _photo_with_gps(photo)
    assert GPS_MARKER.encode() in photo.read_bytes()  # the marker is really in the upload

    staff = new_context().new_page()
    staff.goto("/login")
    staff.get_by_label("Email", exact=True).fill(user.email)
    staff.get_by_label("Password", exact=True).fill(password)
    staff.get_by_role("button", name="Sign in").click()
    expect(staff).to_have_url(re.compile(r"/staff/(\?lang=\w+)?$"))

    staff.goto(f"/staff/posts/new?case={case_id}")
    staff.get_by_label("Title", exact=True).fill("A photo from the road")
    staff.get_by_label("Address (slug)").fill("a-photo-from-the-road")
    staff.get_by_label("Kind").select_option("update")
    staff.get_by_label("Text (Markdown)").fill("They are **on their way**.")
    staff.get_by_label("Save as draft (not public)").check()
    staff.get_by_role("button", name="Save").click()
    expect(staff).to_have_url(re.compile(r"/staff/posts/a-photo-from-the-road/edit(\?lang=\w+)?$"))

    staff.get_by_label("Photo", exact=True).set_input_files(str(photo))
    staff.get_by_label("Description (alt text)").fill("A green field at dawn")
    staff.get_by_role("button", name="Upload photo").click()
    # every photo waits for a person's look before the public may see it
    expect(staff).to_have_url(re.compile(r"/staff/posts/a-photo-from-the-road/photos/\d+/review"))
    staff.get_by_label("I have looked: no person can be recognized in this photo").check()
    staff.get_by_test_id("no-person-form").get_by_role("button",
                                                       name="Confirm and show the photo").click()
    expect(staff.get_by_test_id("photo-state")).to_contain_text(
        "Reviewed: no person can be recognized")
    snippet = staff.locator(".photo-list code").first
    expect(snippet).to_have_text(re.compile(r"^!\[A green field at dawn\]\(/images/[\w-]+\.jpg\)$"))
    markdown = snippet.inner_text()
    image_url = re.search(r"\((/images/[\w-]+\.jpg)\)", markdown).group(1)
    snap(staff, "post-edit-with-photo")

    # Not public while the post is a draft.
    visitor = new_context().new_page()
    assert visitor.request.get(image_url).status == 404

    body = staff.get_by_label("Text (Markdown)")
    body.fill(body.input_value() + "\n\n" + markdown)
    staff.get_by_label("Publish now").check()
    staff.get_by_role("button", name="Save").click()
    expect(staff.locator(".flash-success")).to_be_visible()

    visitor.goto("/cases/e2e-photo-case")
    link = visitor.get_by_role("link", name="A photo from the road")
    expect(link).to_be_visible()
    snap(visitor, "case-with-post")
    link.click()
    picture = visitor.get_by_role("img", name="A green field at dawn")
    expect(picture).to_be_visible()
    expect(picture).to_have_attribute("src", image_url)
    snap(visitor, "post-with-photo")

    served = visitor.request.get(image_url)
    assert served.status == 200 and served.headers["content-type"] == "image/jpeg"
    data = served.body()
    assert GPS_MARKER.encode() not in data and b"PhoneMaker" not in data
    public_image = Image.open(io.BytesIO(data))
    assert not public_image.getexif() and "exif" not in public_image.info
    assert max(public_image.size) <= 1600
