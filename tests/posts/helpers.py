"""Helpers for the post tests: submitting the real staff forms, building test photos."""

from __future__ import annotations

import re
import struct
import zlib
from datetime import datetime, timedelta
from io import BytesIO
from zoneinfo import ZoneInfo

from flask.testing import FlaskClient
from PIL import Image
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from tests.conftest import csrf_from
from tracker.audit import AuditEntry
from tracker.extensions import db
from tracker.posts.models import Post, PostImage

NEW = "/staff/posts/new"


def edit_url(slug: str) -> str:
    return f"/staff/posts/{slug}/edit"


def post_form(client: FlaskClient, url: str = NEW, **overrides):
    """Submit the post form at ``url`` as staff would, with sensible values unless overridden.

    Values of None are left out of the submission (as a browser leaves out an empty select).
    """
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    data = {
        "title": "Six flood survivors need your help",
        "slug": "six-flood-appeal",
        "kind": "appeal",
        "body_markdown": "Please **give** what you can.",
        "publish": "draft",
        "publish_at": "",
        "action": "save",
        "csrf_token": csrf_from(page.text),
    }
    data.update(overrides)
    return client.post(url, data={k: v for k, v in data.items() if v is not None})


def local_input(delta: timedelta, zone: str = "Asia/Tokyo") -> str:
    """A datetime-local input value ``delta`` from now in the NGO's time zone."""
    return (datetime.now(ZoneInfo(zone)) + delta).strftime("%Y-%m-%dT%H:%M")


def fresh() -> None:
    """Forget what the test's session holds: read what the requests committed."""
    db.session.expire_all()


def count(model) -> int:
    fresh()
    return db.session.scalar(db.select(db.func.count()).select_from(model))


def only_post() -> Post:
    fresh()
    [post] = db.session.scalars(db.select(Post)).all()
    return post


def audit_actions() -> list[str]:
    """The audited post actions, oldest first (sign-ins and the like left out)."""
    fresh()
    return list(db.session.scalars(
        db.select(AuditEntry.action).where(AuditEntry.action.like("post.%")).order_by(AuditEntry.id)
    ))


def upload(client: FlaskClient, slug: str, data: bytes, filename: str = "photo.jpg",
           alt_text: str = "Volunteers unloading supplies", with_csrf: bool = True,
           content_type: str = "image/jpeg"):
    """Upload a photo through the edit page's photo form.

    The body is encoded in memory: the test client would spool a large one to a temporary
    file that nobody closes (a ResourceWarning, an error under filterwarnings=error).
    """
    form = {"alt_text": alt_text,
            "photo": FileStorage(BytesIO(data), filename=filename, content_type=content_type)}
    if with_csrf:
        form["csrf_token"] = csrf_from(client.get(edit_url(slug)).text)
    boundary, body = encode_multipart(form)
    return client.post(f"/staff/posts/{slug}/photos", data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")


def stored_images() -> list[PostImage]:
    fresh()
    return list(db.session.scalars(db.select(PostImage).order_by(PostImage.id)))


def jpeg_with_gps(marker: str, size: tuple[int, int] = (3000, 2000), orientation: int | None = None) -> bytes:
    """A JPEG carrying EXIF with GPS coordinates, make, model, a description and a comment
    holding ``marker`` (what a phone photo of someone in hiding would carry)."""
    image = Image.new("RGB", size, (180, 40, 40))
    # a recognisable top-left block to check the orientation was applied
    image.paste((20, 20, 220), (0, 0, size[0] // 4, size[1] // 4))
    exif = Image.Exif()
    exif[0x010F] = "MarkerPhoneMaker"  # Make
    exif[0x0110] = "MarkerModel 15"  # Model
    exif[0x010E] = f"Taken at the safe house {marker}"  # ImageDescription
    exif[0x013B] = f"Owner {marker}"  # Artist
    if orientation is not None:
        exif[0x0112] = orientation
    exif[0x8825] = {  # GPSInfo
        1: "N", 2: (35.0, 41.0, 22.0), 3: "E", 4: (139.0, 41.0, 30.0),
    }
    out = BytesIO()
    image.save(out, "JPEG", exif=exif, comment=f"comment {marker}".encode(), quality=90)
    return out.getvalue()


def png_bytes(size: tuple[int, int] = (40, 30), mode: str = "RGB", color=(10, 120, 200)) -> bytes:
    out = BytesIO()
    Image.new(mode, size, color).save(out, "PNG")
    return out.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` pixels: a decompression bomb
    that costs nothing to build."""
    data = bytearray(png_bytes((1, 1)))
    # signature (8) + length (4) + b"IHDR" (4), then width and height, then the CRC
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    ihdr = bytes(data[12:29])
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr) & 0xFFFFFFFF)
    return bytes(data)


_PHOTO = re.compile(r'name="looked_at"[^>]*value="([0-9a-f]+)"')


def photo_from(page: str, nth: int = 0) -> str:
    """The review version of the photo a staff page's decision form names (the hidden
    ``photo`` field): a decision must name the photo staff looked at."""
    found = _PHOTO.findall(page)
    return found[nth] if len(found) > nth else ""


def confirm_no_person(client: FlaskClient, slug: str, image_id: int, looked: bool = True):
    """Confirm, as staff do on the edit page, that no person can be recognised in a photo of
    the post (the decision every photo waits for before the public may see it)."""
    page = client.get(edit_url(slug)).text
    form = re.search(rf'<form[^>]*/photos/{image_id}/no-person"[^>]*>.*?</form>', page, re.S)
    data = {"csrf_token": csrf_from(page), "looked_at": photo_from(form.group(0)) if form else ""}
    if looked:
        data["looked"] = "y"
    return client.post(f"/staff/posts/{slug}/photos/{image_id}/no-person", data=data)


def upload_reviewed(client: FlaskClient, slug: str, data: bytes, **kwargs) -> PostImage:
    """Upload a photo and confirm that no person can be recognised in it; the stored photo."""
    response = upload(client, slug, data, **kwargs)
    assert response.status_code == 302, response.status_code
    image = stored_images()[-1]
    assert confirm_no_person(client, slug, image.id).status_code == 302
    return image
