"""Photos for posts: checked, re-encoded from pixels only, stored in the database.

Safety: a phone photo carries the place it was taken (EXIF GPS), the phone's make and serial,
sometimes the owner's name, and editing history (XMP). For people in hiding any of these can
be fatal, so nothing of the upload is kept but its pixels: the image is decoded, turned upright,
shrunk, copied into a brand-new image and encoded again. Uploads Pillow cannot decode as
JPEG, PNG, WebP or GIF (SVG, text, truncated files, decompression bombs) are refused.
"""

from __future__ import annotations

import secrets
import warnings
from io import BytesIO
from typing import IO, TYPE_CHECKING

from PIL import Image, ImageOps

from tracker.core import audit
from tracker.core.errors import DomainError
from tracker.core.time import utcnow
from tracker.extensions import db
from tracker.posts.models import Post, PostImage
from tracker.posts.services import audit_case_id

if TYPE_CHECKING:
    from tracker.accounts.models import User

#: the largest upload accepted, checked before anything is decoded
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
#: the largest image (width x height) we agree to decode: a 50-megapixel photo decodes to
#: ~150 MB of pixels; a 20000 x 20000 PNG of a few hundred bytes would take 1.6 GB
MAX_PIXELS = 50_000_000
#: stored images fit within this square
MAX_SIDE = 1600
JPEG_QUALITY = 85
#: formats Pillow may try (SVG, TIFF, PSD, EPS ... are never even attempted)
FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
ALT_MAX = 300
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}

# Pillow's own guard, process-wide: it raises DecompressionBombError above twice this size and
# warns above it (the warning is turned into a refusal in ``_decode``).
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

NOT_AN_IMAGE = "This file is not a photo we can read. Upload a JPEG, PNG, WebP or GIF image."


def read_upload(stream: IO[bytes]) -> bytes:
    """At most ``MAX_UPLOAD_BYTES + 1`` bytes of an upload: enough to tell it is too large
    without reading a huge file into memory."""
    return stream.read(MAX_UPLOAD_BYTES + 1)


def _decode(data: bytes) -> Image.Image:
    """Decode the upload fully (a truncated file fails here), refusing bombs and non-images."""
    # catch_warnings is process-wide, not per thread; the explicit pixel check below refuses
    # the same images should another thread reset the filter meanwhile.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(BytesIO(data), formats=FORMATS)
            if image.width * image.height > MAX_PIXELS:
                raise Image.DecompressionBombError("too many pixels")
            # JPEG can decode at 1/2, 1/4 or 1/8 scale: far less memory for a huge photo.
            image.draft(None, (MAX_SIDE, MAX_SIDE))
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise DomainError(
                f"This image is too large to process (at most {MAX_PIXELS // 1_000_000} "
                "megapixels). Upload a smaller photo.",
                field="photo",
            ) from None
        except Exception:  # noqa: BLE001 - decoders raise many types on hostile input
            raise DomainError(NOT_AN_IMAGE, field="photo") from None
    return image


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a photo with broken EXIF is kept as it is."""
    try:
        rotated = ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - malformed EXIF must not lose an otherwise good photo
        return image
    return rotated if rotated is not None else image


def _to_srgb(image: Image.Image) -> Image.Image:
    """Convert colours to sRGB when the photo has an ICC profile (phones shoot Display P3),
    so that dropping the profile does not change how the photo looks."""
    icc = image.info.get("icc_profile")
    if not icc:
        return image
    try:
        from PIL import ImageCms

        source = ImageCms.ImageCmsProfile(BytesIO(icc))
        target = ImageCms.createProfile("sRGB")
        mode = "RGBA" if image.mode in ("RGBA", "LA", "PA") else "RGB"
        converted = ImageCms.profileToProfile(image, source, target, outputMode=mode)
    except Exception:  # noqa: BLE001 - a broken or unusual profile: keep the pixels as they are
        return image
    return converted if converted is not None else image


def _has_transparency(image: Image.Image) -> bool:
    """Whether any pixel is not fully opaque."""
    if image.mode not in ("RGBA", "LA", "PA", "RGBa", "La") and "transparency" not in image.info:
        return False
    alpha_min, _ = image.convert("RGBA").getchannel("A").getextrema()
    return alpha_min < 255


def reencode(data: bytes) -> tuple[bytes, str, int, int]:
    """Check and clean an upload: ``(encoded bytes, content type, width, height)``.

    Raises DomainError(field="photo") for anything that is not a readable, reasonably sized
    JPEG, PNG, WebP or GIF. The result carries no metadata at all (no EXIF or GPS, no ICC
    profile, no XMP, no comments): it is encoded from a new image holding only the pixels.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise DomainError(
            f"This file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB. Upload a smaller photo.",
            field="photo",
        )
    if not data:
        raise DomainError("The file is empty. Choose a photo to upload.", field="photo")
    decoded = _decode(data)
    try:
        image = _to_srgb(_upright(decoded))
        transparent = _has_transparency(image)
        mode = "RGBA" if transparent else ("L" if image.mode in ("L", "1") else "RGB")
        image = image.convert(mode)
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        # A new image from the raw pixels: nothing of the upload's info dict (EXIF, ICC, XMP,
        # comments) can reach the encoder.
        pixels = Image.frombytes(image.mode, image.size, image.tobytes())
        out = BytesIO()
        if transparent:
            pixels.save(out, "PNG", optimize=True)
            content_type = "image/png"
        else:
            pixels.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
            content_type = "image/jpeg"
    except Exception:  # noqa: BLE001 - an unusual pixel format we cannot convert
        raise DomainError(NOT_AN_IMAGE, field="photo") from None
    return out.getvalue(), content_type, pixels.width, pixels.height


def clean_alt_text(alt_text: str) -> str:
    """Alt text on one line (line breaks would break the Markdown snippet), 1-300 characters."""
    alt = " ".join((alt_text or "").split())
    if not alt:
        raise DomainError(
            "Describe the photo for people who cannot see it (for example “Volunteers at the "
            "border crossing”). Never write names or places that identify someone.",
            field="alt_text",
        )
    if len(alt) > ALT_MAX:
        raise DomainError(f"Keep the description to {ALT_MAX} characters.", field="alt_text")
    return alt


def store_image(upload_bytes: bytes, alt_text: str, post: Post, uploaded_by: User | None) -> PostImage:
    """Re-encode an uploaded photo for ``post`` and add it under a random public name.

    Refuses (DomainError at "photo" or "alt_text") uploads over 10 MB before decoding them,
    and anything that is not a JPEG, PNG, WebP or GIF Pillow can read. Flushes; the caller
    commits. Bumps the post's ``updated_at``.
    """
    alt = clean_alt_text(alt_text)
    data, content_type, width, height = reencode(upload_bytes)
    image = PostImage(
        token=secrets.token_urlsafe(16),
        post_id=post.id,
        content_type=content_type,
        width=width,
        height=height,
        byte_size=len(data),
        alt_text=alt,
        data=data,
        uploaded_by_id=uploaded_by.id if uploaded_by is not None else None,
    )
    db.session.add(image)
    post.updated_at = utcnow()
    db.session.flush()
    audit.record("post.image_added", post, case_id=audit_case_id(post),
                 after={"image_id": image.id, "width": width, "height": height,
                        "content_type": content_type, "byte_size": len(data)})
    return image


def remove_image(image: PostImage, post: Post) -> None:
    """Delete a photo of ``post`` (a wrong photo must be removable at once). Its URL answers
    404 from then on; copies already in browsers' or proxies' caches are out of our reach.
    Flushes; the caller commits."""
    if image.post_id != post.id:
        raise DomainError("This photo belongs to another post.", field="photo")
    audit.record("post.image_removed", post, case_id=audit_case_id(post),
                 before={"image_id": image.id, "token": image.token})
    db.session.delete(image)
    post.updated_at = utcnow()
    db.session.flush()


def filename(image: PostImage) -> str:
    """The public file name: the random token and the extension of the stored format."""
    return f"{image.token}.{EXTENSIONS[image.content_type]}"


def markdown_snippet(image: PostImage, url: str) -> str:
    """What staff paste into a post body to show the photo."""
    alt = image.alt_text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    return f"![{alt}]({url})"


def images_of(post: Post) -> list[PostImage]:
    """The photos uploaded for a post, oldest first."""
    return list(db.session.scalars(
        db.select(PostImage).where(PostImage.post_id == post.id).order_by(PostImage.id)
    ))


def find_by_filename(name: str) -> PostImage | None:
    """The image named ``<token>.<ext>``, or None (also when the extension does not match)."""
    token, dot, ext = name.rpartition(".")
    if not dot or not token or len(token) > 40:
        return None
    image = db.session.scalar(db.select(PostImage).where(PostImage.token == token))
    if image is None or EXTENSIONS.get(image.content_type) != ext:
        return None
    return image


def is_public(image: PostImage) -> bool:
    """Whether the public may see the image now: its post is published or past its embargo."""
    if image.post_id is None:
        return False
    post = db.session.get(Post, image.post_id)
    return post is not None and post.is_visible(utcnow())
