"""Uploaded images: checked, re-encoded from pixels only, so nothing but the pixels is kept.

Safety: a phone photo carries the place it was taken (EXIF GPS), the phone's make and serial,
sometimes the owner's name, and editing history (XMP). For people in hiding any of these can
be fatal, so nothing of the upload is kept but its pixels: the image is decoded, turned upright,
shrunk, copied into a brand-new image and encoded again. Uploads Pillow cannot decode as
JPEG, PNG, WebP or GIF (SVG, text, truncated files, decompression bombs) are refused.

Memory: the size an image would take once decoded is checked from its header before any pixel
is decoded. A PNG of 7000 x 7000 pixels compresses to some 150 KB yet needs about 200 MB as
pixels and more to re-encode; anything over MAX_PIXELS as decoded is refused. A JPEG decodes at
1/2, 1/4 or 1/8 scale when that is enough for MAX_SIDE (``draft``), so a 48-megapixel phone
photo is decoded as 3 megapixels and accepted; its header may declare up to MAX_HEADER_PIXELS.

Used for post photos and for the receipts of disbursements alike.
"""

from __future__ import annotations

import warnings
from io import BytesIO
from typing import IO

from flask_babel import gettext as _
from PIL import Image, ImageOps

from tracker.core.errors import DomainError

#: the largest upload accepted, checked before anything is decoded
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
#: the most pixels we agree to decode (width x height as decoded, after a JPEG's draft
#: scaling): 16 megapixels are 64 MB as RGBA; a 20000 x 20000 PNG of a few hundred bytes would
#: take 1.6 GB
MAX_PIXELS = 16_000_000
#: the most pixels an image's header may declare at all (a JPEG decodes at 1/8 of it)
MAX_HEADER_PIXELS = 64_000_000
#: stored images fit within this square
MAX_SIDE = 1600
JPEG_QUALITY = 85
#: formats Pillow may try (SVG, TIFF, PSD, EPS ... are never even attempted)
FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}

# Pillow's own guard, process-wide, on the size a header declares: it raises
# DecompressionBombError above twice this size and warns above it (the warning is turned into
# a refusal in ``_decode``).
Image.MAX_IMAGE_PIXELS = MAX_HEADER_PIXELS


#: the longest description (alt text) of a photo
ALT_MAX = 300


def clean_alt_text(alt_text: str) -> str:
    """Alt text on one line (line breaks would break the Markdown snippet), 1-300 characters."""
    alt = " ".join((alt_text or "").split())
    if not alt:
        raise DomainError(
            _("Describe the photo for people who cannot see it (for example “Volunteers at the "
              "border crossing”). Never write names or places that identify someone."),
            field="alt_text",
        )
    if len(alt) > ALT_MAX:
        raise DomainError(_("Keep the description to %(max)d characters.", max=ALT_MAX),
                          field="alt_text")
    return alt


def _not_an_image() -> str:
    return _("This file is not a photo we can read. Upload a JPEG, PNG, WebP or GIF image.")


def _too_many_pixels() -> str:
    return _("This image is too large to process (at most %(megapixels)d megapixels). Upload a "
             "smaller photo.", megapixels=MAX_PIXELS // 1_000_000)


def read_upload(stream: IO[bytes]) -> bytes:
    """At most ``MAX_UPLOAD_BYTES + 1`` bytes of an upload: enough to tell it is too large
    without reading a huge file into memory."""
    return stream.read(MAX_UPLOAD_BYTES + 1)


def _decode(data: bytes, field: str) -> Image.Image:
    """Decode the upload fully (a truncated file fails here), refusing bombs and non-images."""
    # catch_warnings is process-wide, not per thread; the explicit pixel check below refuses
    # the same images should another thread reset the filter meanwhile.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            # open() reads the header only: no pixel is decoded before the checks below
            image = Image.open(BytesIO(data), formats=FORMATS)
            if image.width * image.height > MAX_HEADER_PIXELS:
                raise Image.DecompressionBombError("too many pixels declared")
            # JPEG can decode at 1/2, 1/4 or 1/8 scale: far less memory for a huge photo.
            # draft() only sets the scale (and the size the decoder will produce).
            image.draft(None, (MAX_SIDE, MAX_SIDE))
            if image.width * image.height > MAX_PIXELS:
                raise Image.DecompressionBombError("too many pixels to decode")
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise DomainError(_too_many_pixels(), field=field) from None
        except Exception:  # noqa: BLE001 - decoders raise many types on hostile input
            raise DomainError(_not_an_image(), field=field) from None
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


def reencode(data: bytes, field: str = "photo") -> tuple[bytes, str, int, int]:
    """Check and clean an upload: ``(encoded bytes, content type, width, height)``.

    Raises DomainError(field)  for anything that is not a readable, reasonably sized
    JPEG, PNG, WebP or GIF. The result carries no metadata at all (no EXIF or GPS, no ICC
    profile, no XMP, no comments): it is encoded from a new image holding only the pixels.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise DomainError(_("This file is larger than %(mb)d MB. Upload a smaller photo.",
                            mb=MAX_UPLOAD_BYTES // (1024 * 1024)), field=field)
    if not data:
        raise DomainError(_("The file is empty. Choose a photo to upload."), field=field)
    decoded = _decode(data, field)
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
        raise DomainError(_not_an_image(), field=field) from None
    return out.getvalue(), content_type, pixels.width, pixels.height


def jpeg_variant(data: bytes, max_width: int) -> tuple[bytes, int, int]:
    """A JPEG no wider than ``max_width`` of an image already cleaned by ``reencode`` (a
    transparent one on white): ``(bytes, width, height)``, pixels only, no metadata."""
    with Image.open(BytesIO(data)) as opened:
        image = opened.convert("RGBA")
    background = Image.new("RGB", image.size, (255, 255, 255))
    background.paste(image, mask=image.getchannel("A"))
    if background.width > max_width:
        height = max(1, round(background.height * max_width / background.width))
        background = background.resize((max_width, height), Image.Resampling.LANCZOS)
    out = BytesIO()
    background.save(out, "JPEG", quality=JPEG_QUALITY - 5, optimize=True, progressive=True)
    return out.getvalue(), background.width, background.height
