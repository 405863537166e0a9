"""Post photos: re-encoded from pixels only (no EXIF, GPS, ICC, comments), at most 1600 px,
served under a random name only once their post is public; anything else is refused."""

from __future__ import annotations

import warnings
from io import BytesIO

import pytest
from PIL import Image

from tests.conftest import Auth, csrf_from
from tests.posts.helpers import (
    audit_actions,
    confirm_no_person,
    edit_url,
    jpeg_with_gps,
    only_post,
    png_bytes,
    png_declaring,
    post_form,
    stored_images,
    upload,
    upload_reviewed,
)
from tracker.core import images as core_images
from tracker.core.errors import DomainError
from tracker.core.time import as_utc, utcnow
from tracker.extensions import db
from tracker.posts import images

MARKER = "SAFEHOUSE-7f3a9c"


@pytest.fixture
def draft(client, staff):
    assert post_form(client).status_code == 302
    return only_post()


def test_the_test_photo_really_carries_gps_and_the_marker():
    data = jpeg_with_gps(MARKER)
    original = Image.open(BytesIO(data))
    exif = original.getexif()
    assert exif.get_ifd(0x8825)[2] == (35.0, 41.0, 22.0)
    assert exif[0x010F] == "MarkerPhoneMaker"
    assert MARKER.encode() in data


def test_an_uploaded_photo_loses_all_metadata_and_is_shrunk(client, draft):
    stamp = as_utc(draft.updated_at)
    response = upload(client, draft.slug, jpeg_with_gps(MARKER))
    assert response.status_code == 302

    [stored] = stored_images()
    assert stored.content_type == "image/jpeg" and stored.post_id == draft.id
    assert stored.alt_text == "Volunteers unloading supplies"
    assert len(stored.token) >= 20 and "photo" not in stored.token
    assert stored.byte_size == len(stored.data)
    image = Image.open(BytesIO(stored.data))
    assert image.format == "JPEG"
    assert (image.width, image.height) == (stored.width, stored.height) == (1600, 1067)
    assert len(image.getexif()) == 0
    assert "exif" not in image.info and "icc_profile" not in image.info
    assert "comment" not in image.info and "xmp" not in image.info
    for needle in (MARKER.encode(), b"MarkerPhoneMaker", b"MarkerModel", b"Exif\x00\x00"):
        assert needle not in stored.data
    assert as_utc(only_post().updated_at) > stamp
    assert audit_actions()[-1] == "post.image_added"


def test_the_exif_orientation_is_applied_before_the_metadata_goes(client, draft):
    # orientation 6: the camera was turned; the photo must come out upright (portrait)
    assert upload(client, draft.slug, jpeg_with_gps(MARKER, orientation=6)).status_code == 302
    [stored] = stored_images()
    image = Image.open(BytesIO(stored.data))
    assert (image.width, image.height) == (1067, 1600)
    # the blue block from the top-left corner is now at the top-right
    r, g, b = image.convert("RGB").getpixel((image.width - 10, 10))
    assert b > 150 and r < 80


def test_a_transparent_png_stays_png_and_small_photos_are_not_enlarged(client, draft):
    transparent = png_bytes((300, 200), "RGBA", (0, 128, 0, 100))
    assert upload(client, draft.slug, transparent, "logo.png", content_type="image/png").status_code == 302
    flat = png_bytes((300, 200))
    assert upload(client, draft.slug, flat, "flat.png", content_type="image/png").status_code == 302
    first, second = stored_images()
    assert (first.content_type, first.width, first.height) == ("image/png", 300, 200)
    assert Image.open(BytesIO(first.data)).mode == "RGBA"
    assert second.content_type == "image/jpeg"  # opaque: JPEG
    assert client.get(f"/images/{first.token}.png").headers["Content-Type"] == "image/png"
    assert client.get(f"/images/{first.token}.jpg").status_code == 404


def test_webp_and_gif_uploads_are_accepted(client, draft):
    for fmt in ("WEBP", "GIF"):
        out = BytesIO()
        Image.new("RGB", (64, 48), (1, 2, 3)).save(out, fmt)
        assert upload(client, draft.slug, out.getvalue(), f"x.{fmt.lower()}").status_code == 302
    assert [i.content_type for i in stored_images()] == ["image/jpeg", "image/jpeg"]


def test_the_edit_page_shows_the_photo_and_its_markdown_snippet(client, draft):
    assert upload(client, draft.slug, jpeg_with_gps(MARKER), alt_text="Boxes [of] rice").status_code == 302
    [stored] = stored_images()
    page = client.get(edit_url(draft.slug)).text
    assert f"![Boxes \\[of\\] rice](/images/{stored.token}.jpg)" in page
    assert f'src="/images/{stored.token}.jpg"' in page


def test_a_photo_is_served_only_once_its_post_is_public(client, draft, app):
    assert upload(client, draft.slug, jpeg_with_gps(MARKER)).status_code == 302
    [stored] = stored_images()
    url = f"/images/{stored.token}.jpg"
    anonymous = app.test_client()

    assert anonymous.get(url).status_code == 404
    staff_view = client.get(url)
    assert staff_view.status_code == 200 and staff_view.data == stored.data
    assert staff_view.headers["Cache-Control"] == "private, no-store"

    body = f"Supplies arrived.\n\n![Volunteers]({url})"
    # nobody has looked at the photo yet: the post cannot go out, the photo stays hidden
    refused = post_form(client, edit_url(draft.slug), body_markdown=body, publish="publish")
    assert refused.status_code in (409, 422) and "has not been reviewed yet" in refused.text
    assert only_post().status == "draft" and anonymous.get(url).status_code == 404
    assert confirm_no_person(client, draft.slug, stored.id).status_code == 302
    assert post_form(client, edit_url(draft.slug), body_markdown=body, publish="publish").status_code == 302
    public = anonymous.get(url)
    assert public.status_code == 200
    assert public.headers["Content-Type"] == "image/jpeg"
    assert public.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert public.headers["X-Content-Type-Options"] == "nosniff"
    # nothing per-visitor in a response shared caches keep for a year
    assert "Set-Cookie" not in public.headers
    assert public.data == stored.data

    page = anonymous.get(f"/posts/{draft.slug}").text
    assert f'<img alt="Volunteers" src="{url}">' in page or f'<img src="{url}" alt="Volunteers">' in page

    assert anonymous.get(f"/images/{stored.token}.png").status_code == 404
    assert anonymous.get("/images/unknown-token.jpg").status_code == 404
    assert anonymous.get("/images/no-extension").status_code == 404


def test_a_photo_of_a_scheduled_post_appears_when_the_embargo_lifts(client, draft, app):
    upload_reviewed(client, draft.slug, png_bytes())
    assert post_form(client, edit_url(draft.slug), publish="schedule",
                     publish_at="2099-01-01T09:00").status_code == 302
    [stored] = stored_images()
    anonymous = app.test_client()
    assert anonymous.get(f"/images/{stored.token}.jpg").status_code == 404
    post = only_post()
    post.publish_at = utcnow()
    db.session.commit()
    assert anonymous.get(f"/images/{stored.token}.jpg").status_code == 200


def test_directors_do_not_see_unpublished_photos(client, draft, app, auth, make_user):
    assert upload(client, draft.slug, png_bytes()).status_code == 302
    [stored] = stored_images()
    other = app.test_client()
    director, password = make_user("director")
    assert Auth(other).login(director.email, password).status_code == 302
    assert other.get(f"/images/{stored.token}.jpg").status_code == 404


def test_a_photo_can_be_removed(client, draft, app):
    upload_reviewed(client, draft.slug, png_bytes())
    assert post_form(client, edit_url(draft.slug), publish="publish").status_code == 302
    [stored] = stored_images()
    url = f"/images/{stored.token}.jpg"
    anonymous = app.test_client()
    assert anonymous.get(url).status_code == 200
    stamp = as_utc(only_post().updated_at)

    token = csrf_from(client.get(edit_url(draft.slug)).text)
    response = client.post(f"/staff/posts/{draft.slug}/photos/{stored.id}/remove",
                           data={"csrf_token": token})
    assert response.status_code == 302
    assert stored_images() == []
    assert anonymous.get(url).status_code == 404
    assert as_utc(only_post().updated_at) > stamp
    assert audit_actions()[-1] == "post.image_removed"


def test_a_photo_is_removed_only_through_its_own_post_and_with_csrf(client, draft):
    assert upload(client, draft.slug, png_bytes()).status_code == 302
    assert post_form(client, slug="other-post").status_code == 302
    [stored] = stored_images()
    assert client.post(f"/staff/posts/{draft.slug}/photos/{stored.id}/remove").status_code == 400
    token = csrf_from(client.get(edit_url(draft.slug)).text)
    assert client.post(f"/staff/posts/other-post/photos/{stored.id}/remove",
                       data={"csrf_token": token}).status_code == 404
    assert len(stored_images()) == 1


# --- refusals -----------------------------------------------------------------------------------


def _truncated_jpeg() -> bytes:
    data = jpeg_with_gps(MARKER, size=(800, 600))
    return data[: len(data) // 2]


SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
       b'<script>alert(1)</script><rect width="10" height="10"/></svg>')

REFUSED = [
    ("text renamed .jpg", b"Not a photo at all, just text.\n" * 20, "photo.jpg", "not a photo we can read"),
    ("svg", SVG, "drawing.svg", "not a photo we can read"),
    ("svg renamed .png", SVG, "drawing.png", "not a photo we can read"),
    ("truncated jpeg", None, "cut.jpg", "not a photo we can read"),
    ("decompression bomb", png_declaring(20_000, 20_000), "bomb.png", "too large to process"),
    ("over 10 MB", b"\xff\xd8\xff" + b"\0" * (10 * 1024 * 1024), "huge.jpg", "larger than 10 MB"),
    ("empty file", b"", "empty.jpg", ""),
    ("tiff", None, "photo.tif", "not a photo we can read"),
]


@pytest.mark.parametrize(("name", "data", "filename", "message"), REFUSED, ids=[r[0] for r in REFUSED])
def test_bad_uploads_are_refused_at_the_field_and_nothing_is_stored(client, draft, name, data,
                                                                     filename, message):
    if name == "truncated jpeg":
        data = _truncated_jpeg()
    elif name == "tiff":
        out = BytesIO()
        Image.new("RGB", (20, 20)).save(out, "TIFF")
        data = out.getvalue()
    stamp = as_utc(draft.updated_at)
    response = upload(client, draft.slug, data, filename)
    assert response.status_code == 422
    assert 'id="photo-error"' in response.text
    assert message in response.text
    assert stored_images() == []
    assert as_utc(only_post().updated_at) == stamp
    assert "post.image_added" not in audit_actions()


def test_missing_alt_text_is_refused_at_its_field(client, draft):
    response = upload(client, draft.slug, png_bytes(), alt_text="   ")
    assert response.status_code == 422
    assert 'id="alt_text-error"' in response.text and "Describe the photo" in response.text
    assert stored_images() == []


def test_an_upload_without_csrf_is_refused(client, draft):
    assert upload(client, draft.slug, png_bytes(), with_csrf=False).status_code == 400
    assert stored_images() == []


def test_an_image_just_over_the_pixel_limit_is_refused(app, monkeypatch):
    # Pillow warns (rather than raises) between its limit and twice it: still refused.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4_000_000)
    with pytest.raises(DomainError, match="too large to process") as caught:
        core_images.reencode(jpeg_with_gps(MARKER, size=(3000, 2000)))
    assert caught.value.field == "photo"


def test_our_own_pixel_limit_applies_whatever_pillow_allows(app, monkeypatch):
    monkeypatch.setattr(core_images, "MAX_PIXELS", 1_000_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DomainError, match="too large to process"):
            core_images.reencode(png_bytes((1200, 1000)))


def _real_png(width: int, height: int) -> bytes:
    """A real, complete PNG of ``width`` x ``height`` black RGB pixels, built row by row (the
    test never holds the pixels): 7000 x 7000 compresses to about 150 KB."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    packer = zlib.compressobj(9)
    row = b"\0" * (1 + 3 * width)  # filter byte "none", then the row's pixels
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def png_49_megapixels() -> bytes:
    data = _real_png(7000, 7000)
    assert 100_000 < len(data) < 250_000, len(data)
    return data


def _count_decodes(monkeypatch) -> list[tuple[int, int]]:  # noqa: ANN001
    from PIL import ImageFile

    decoded: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def counting_load(self):  # noqa: ANN001, ANN202
        decoded.append(self.size)
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    return decoded


def test_a_49_megapixel_png_is_refused_without_being_decoded(app, monkeypatch, png_49_megapixels):
    """Issue 15, item 12: a 160 KB PNG that would take ~500 MB to re-encode is refused from its
    header, with a message saying why, and none of its pixels is ever decoded."""
    assert Image.open(BytesIO(png_49_megapixels)).size == (7000, 7000)  # really 49 MP, valid
    decoded = _count_decodes(monkeypatch)
    with pytest.raises(DomainError) as caught:
        core_images.reencode(png_49_megapixels)
    assert caught.value.field == "photo"
    assert caught.value.reason == ("This image is too large to process (at most 16 megapixels). "
                                   "Upload a smaller photo.")
    assert decoded == []


def test_a_49_megapixel_png_is_refused_at_the_upload_form(client, draft, monkeypatch,
                                                          png_49_megapixels):
    decoded = _count_decodes(monkeypatch)
    response = upload(client, draft.slug, png_49_megapixels, "huge.png", content_type="image/png")
    assert response.status_code == 422
    assert 'id="photo-error"' in response.text
    assert "too large to process (at most 16 megapixels)" in response.text
    assert stored_images() == []
    assert decoded == []


def test_a_big_phone_jpeg_is_decoded_at_a_fraction_and_accepted(app, monkeypatch):
    """A 48-megapixel JPEG (8000 x 6000) decodes at 1/4 scale: under the limit, accepted."""
    out = BytesIO()
    Image.new("L", (8000, 6000), 128).save(out, "JPEG", quality=50)
    decoded = _count_decodes(monkeypatch)
    data, content_type, width, height = core_images.reencode(out.getvalue())
    assert (content_type, max(width, height)) == ("image/jpeg", 1600)
    assert decoded and all(w * h <= core_images.MAX_PIXELS for w, h in decoded), decoded


def test_the_pillow_guard_is_set_process_wide():
    assert Image.MAX_IMAGE_PIXELS == core_images.MAX_HEADER_PIXELS
    assert core_images.MAX_PIXELS <= 16_000_000


def test_store_image_refuses_oversized_bytes_before_decoding(app, monkeypatch):
    def explode(*args, **kwargs):
        raise AssertionError("decoded an oversized upload")

    monkeypatch.setattr(Image, "open", explode)
    with pytest.raises(DomainError, match="larger than 10 MB"):
        images.store_image(b"\0" * (images.MAX_UPLOAD_BYTES + 1), "alt", None, None)


def test_a_png_with_text_chunks_and_an_icc_profile_comes_out_clean(app):
    from PIL import ImageCms, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", f"GPS 35.68 139.69 {MARKER}")
    info.add_itxt("XML:com.adobe.xmp", f"<x:xmpmeta>{MARKER}</x:xmpmeta>")
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = BytesIO()
    Image.new("RGB", (50, 50), (5, 6, 7)).save(out, "PNG", pnginfo=info, icc_profile=profile)
    assert MARKER.encode() in out.getvalue()

    data, content_type, width, height = core_images.reencode(out.getvalue())
    assert (content_type, width, height) == ("image/jpeg", 50, 50)
    assert MARKER.encode() not in data
    cleaned = Image.open(BytesIO(data))
    assert "icc_profile" not in cleaned.info and len(cleaned.getexif()) == 0
