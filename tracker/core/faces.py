"""The face check every photo that can reach a public page passes: one home for detecting
faces, drawing what was found, blurring it, and the review state a photo carries.

Safety: the people in the cases are in hiding; a face in a photo on a public page can be
recognised. So no photo is shown publicly (and a post carrying one cannot be published) before
a person on the staff has decided about it, on purpose and audited:

- a photo in which OpenCV's Haar cascades (frontal and profile faces, the model files shipped
  inside ``opencv-python-headless``: nothing is downloaded at run time) find a face is *held*
  until staff blur the regions found (the check then runs again on the result) or confirm, with
  a note, that the person agreed to be shown;
- a photo in which they find nothing is *unreviewed*: the cascades miss drawn faces, profiles
  at odd angles, small faces and more, so staff still look at it and confirm "no person can be
  recognised in this photo", or mark an area to blur, or confirm the person's consent.

The cascade is a pointer for the staff's own judgement, never a replacement for it.

The regions found are stored with the photo (``FaceReviewMixin.face_regions``), so the
preview staff look at and the blur they apply are the same pixels, whatever the detector does.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from flask_babel import gettext as _
from PIL import Image, ImageDraw, ImageFilter
from sqlalchemy import JSON, CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.core.errors import DomainError

#: the check found no face, and nobody has looked yet: not public until staff decide
UNREVIEWED = "unreviewed"
#: a face was found (or staff marked an area): not public until blurred or consented
HELD = "held"
#: staff blurred the regions found and the check found no face afterwards
BLURRED = "blurred"
#: staff confirmed, with a note, that the people shown agreed to it
CONSENTED = "consented"
#: staff looked and confirmed that no person can be recognised in the photo
NO_PERSON = "no_person"
FACE_STATUSES = (UNREVIEWED, HELD, BLURRED, CONSENTED, NO_PERSON)
#: the statuses a public page may show: each one is a decision staff made on purpose
SHOWABLE = (NO_PERSON, BLURRED, CONSENTED)
#: the statuses that wait for a decision
AWAITING = (UNREVIEWED, HELD)

#: the detector works on a copy no larger than this (faster; small faces are still found)
DETECT_SIDE = 1600
#: the smallest face looked for, in the stored image's pixels (the cascades' own window is
#: 20-24 px): a face the size of a thumbnail on a 1200 px cover is still looked for
MIN_FACE = 20
#: each region is widened by this share of its size on every side before blurring
MARGIN = 0.25
CONSENT_NOTE_MAX = 300

_cascades: dict[str, Any] = {}
_lock = threading.Lock()
#: one detection at a time per process (a shared classifier is not documented as thread-safe)
_detect_lock = threading.Lock()


def _cascade(name: str):
    """A cascade from the files OpenCV ships, loaded once per process."""
    # OpenCV is imported when a photo is first checked: it is slow to load, and most
    # processes (the worker, most requests) never check a photo.
    import cv2

    with _lock:
        if name not in _cascades:
            classifier = cv2.CascadeClassifier(cv2.data.haarcascades + name)
            if classifier.empty():  # pragma: no cover - a broken install
                raise RuntimeError(f"OpenCV cascade {name} could not be loaded")
            _cascades[name] = classifier
        return _cascades[name]


def detect_faces(data: bytes) -> list[list[int]]:
    """The face regions found in an encoded image, as ``[x, y, width, height]`` in its own
    pixels, sorted. Frontal faces, and profiles looking either way."""
    import cv2
    import numpy as np

    with Image.open(BytesIO(data)) as image:
        gray = image.convert("L")
    scale = min(1.0, DETECT_SIDE / max(gray.size))
    if scale < 1.0:
        gray = gray.resize((max(1, round(gray.width * scale)), max(1, round(gray.height * scale))),
                           Image.Resampling.LANCZOS)
    pixels = cv2.equalizeHist(np.asarray(gray, dtype=np.uint8))
    width = pixels.shape[1]
    min_side = MIN_FACE
    classifiers = [(_cascade(name), mirrored) for name, mirrored in (
        ("haarcascade_frontalface_default.xml", False),
        ("haarcascade_profileface.xml", False),
        ("haarcascade_profileface.xml", True),  # profiles looking the other way
    )]
    found: list[tuple[int, int, int, int]] = []
    height = pixels.shape[0]
    with _detect_lock:
        for angle in TILTS:
            # a tilted head is missed by an upright cascade: look again in the image turned
            # the other way, and take each face found back to the photo's own pixels
            turn, back = _turned(cv2, np, pixels, angle)
            for classifier, mirrored in classifiers:
                source = cv2.flip(turn, 1) if mirrored else turn
                boxes = classifier.detectMultiScale(source, scaleFactor=1.1, minNeighbors=5,
                                                    minSize=(min_side, min_side))
                for x, y, w, h in (boxes if len(boxes) else []):
                    x = source.shape[1] - x - w if mirrored else x
                    found.append(_box_back(np, back, (int(x), int(y), int(w), int(h)),
                                           width, height))
    regions = [[round(v / scale) for v in box] for box in found if box[2] > 0 and box[3] > 0]
    return sorted(regions)


#: the tilts looked at, in degrees: upright, and a head leaning either way
TILTS = (0, 30, -30)


def _turned(cv2, np, pixels, angle: float):  # noqa: ANN001, ANN202 - OpenCV and numpy
    """``pixels`` turned by ``angle`` degrees on a canvas large enough to hold all of it,
    and the affine matrix that takes the turned image's points back to the original's."""
    if angle == 0:
        return pixels, None
    height, width = pixels.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = int(height * sin + width * cos), int(height * cos + width * sin)
    matrix[0, 2] += new_w / 2 - width / 2
    matrix[1, 2] += new_h / 2 - height / 2
    turned = cv2.warpAffine(pixels, matrix, (new_w, new_h), borderMode=cv2.BORDER_REPLICATE)
    return turned, cv2.invertAffineTransform(matrix)


def _box_back(np, back, box: tuple[int, int, int, int], width: int,  # noqa: ANN001 - numpy
              height: int) -> tuple[int, int, int, int]:
    """A box found in a turned image as the upright box around it in the original image,
    clipped to the image."""
    if back is None:
        return box
    x, y, w, h = box
    corners = np.array([[x, y, 1], [x + w, y, 1], [x, y + h, 1], [x + w, y + h, 1]], dtype=float)
    points = corners @ back.T
    left, top = max(0, int(points[:, 0].min())), max(0, int(points[:, 1].min()))
    right, bottom = min(width, int(points[:, 0].max())), min(height, int(points[:, 1].max()))
    return (left, top, right - left, bottom - top)


def _widened(region: list[int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    x, y, w, h = region
    dx, dy = round(w * MARGIN), round(h * MARGIN)
    return (max(0, x - dx), max(0, y - dy), min(size[0], x + w + dx), min(size[1], y + h + dy))


def _encode(image: Image.Image, content_type: str) -> bytes:
    """Encode pixels only (a new image: no metadata can come along)."""
    pixels = Image.frombytes(image.mode, image.size, image.tobytes())
    out = BytesIO()
    if content_type == "image/png":
        pixels.save(out, "PNG", optimize=True)
    else:
        pixels.convert("RGB").save(out, "JPEG", quality=85, optimize=True, progressive=True)
    return out.getvalue()


def blur_regions(data: bytes, content_type: str, regions: list[list[int]]) -> bytes:
    """The image with every region (widened by ``MARGIN``) pixelated and then blurred hard,
    encoded again without metadata. Deterministic: the same input gives the same bytes."""
    with Image.open(BytesIO(data)) as opened:
        image = opened.copy()
    image.load()
    for region in regions:
        box = _widened(region, image.size)
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        patch = image.crop(box)
        w, h = patch.size
        # pixelate to a few blocks (no feature survives), then blur away the block edges
        blocks = patch.resize((max(1, w // 12), max(1, h // 12)), Image.Resampling.BILINEAR)
        patch = blocks.resize((w, h), Image.Resampling.NEAREST)
        patch = patch.filter(ImageFilter.GaussianBlur(max(4, min(w, h) // 8)))
        image.paste(patch, box[:2])
    return _encode(image, content_type)


def draw_regions(data: bytes, content_type: str, regions: list[list[int]]) -> bytes:
    """The image with a thick frame around each region found (staff review only)."""
    with Image.open(BytesIO(data)) as opened:
        image = opened.convert("RGB")
    draw = ImageDraw.Draw(image)
    line = max(3, max(image.size) // 200)
    for x, y, w, h in regions:
        draw.rectangle((x, y, x + w, y + h), outline=(255, 0, 180), width=line)
        draw.rectangle((x - line, y - line, x + w + line, y + h + line), outline=(0, 0, 0),
                       width=max(1, line // 2))
    return _encode(image, "image/jpeg")


#: what staff may look at while reviewing a held photo
REVIEW_KINDS = ("boxes", "preview")


def review_image(photo: FaceReviewMixin, data: bytes, content_type: str, kind: str) -> bytes:
    """What staff look at while reviewing: the stored regions framed ("boxes") or blurred
    exactly as the blur will write them ("preview")."""
    regions = list(photo.face_regions or [])
    if kind == "preview":
        return blur_regions(data, content_type, regions)
    return draw_regions(data, content_type, regions)


def check(data: bytes) -> tuple[str, list[list[int]]]:
    """The face check of an encoded image: ``(HELD, regions)`` or ``(UNREVIEWED, [])``."""
    regions = detect_faces(data)
    return (HELD if regions else UNREVIEWED), regions


def status_check() -> CheckConstraint:
    """The CHECK constraint a model with ``FaceReviewMixin`` adds to its table arguments."""
    statuses = ", ".join(f"'{s}'" for s in FACE_STATUSES)
    return CheckConstraint(f"face_status IN ({statuses})", name="face_status")


class FaceReviewMixin:
    """The face check's result on a stored photo (post photos, case covers)."""

    #: unreviewed, held (a face was found), blurred, consented or no_person (see
    #: tracker.core.faces); only the last three are shown publicly
    face_status: Mapped[str] = mapped_column(String(10), default=UNREVIEWED,
                                             server_default=UNREVIEWED)
    #: the regions the last check found, ``[[x, y, w, h], ...]`` in the stored image's pixels
    face_regions: Mapped[list[list[int]] | None] = mapped_column(JSON)
    #: why staff showed a face on purpose (the person's agreement), when consented
    face_note: Mapped[str | None] = mapped_column(String(CONSENT_NOTE_MAX))

    @property
    def review_version(self) -> str:
        """What staff looked at, as a short digest of the stored photo: every decision form
        carries it, and a decision about another photo (replaced or blurred since the page was
        opened) is refused (``check_version``)."""
        return hashlib.sha256(getattr(self, "data", b"") or b"").hexdigest()[:24]

    @property
    def face_held(self) -> bool:
        return self.face_status == HELD

    @property
    def face_unreviewed(self) -> bool:
        return self.face_status == UNREVIEWED

    @property
    def face_awaiting(self) -> bool:
        """Whether the photo waits for a staff decision (held or unreviewed)."""
        return self.face_status in AWAITING

    @property
    def face_showable(self) -> bool:
        return self.face_status in SHOWABLE


def set_checked(photo: FaceReviewMixin, data: bytes) -> None:
    """Run the check on ``data`` (the photo's stored bytes) and record the result."""
    status, regions = check(data)
    photo.face_status = status
    photo.face_regions = regions or None
    photo.face_note = None


#: what staff can decide about a photo waiting for review, by the word in its route
BLUR, CONSENT, CONFIRM_NO_PERSON, MARK = "blur", "consent", "no-person", "mark"
DECISIONS = (BLUR, CONSENT, CONFIRM_NO_PERSON, MARK)
#: the audit action's last word for each decision ("case.cover_blurred", ...)
DECISION_EVENTS = {BLUR: "blurred", CONSENT: "consented", CONFIRM_NO_PERSON: "no_person",
                   MARK: "area_marked"}


@dataclass(frozen=True, slots=True)
class Decision:
    """What a staff decision did to a photo: its new bytes when the pixels changed (the
    caller stores them), and the audit's before and after (the caller audits ``event``)."""

    event: str
    before: dict
    after: dict
    data: bytes | None = None


def decide(photo: FaceReviewMixin, data: bytes, content_type: str, decision: str,
           values: dict | None = None) -> Decision:
    """Apply a staff decision to a photo waiting for review (``values`` are the form's:
    ``agreed`` and ``face_note`` for consent, ``looked`` for "no person", ``left``, ``top``,
    ``width`` and ``height`` in percent for a marked area). Raises DomainError, changing
    nothing, when the photo waits for no such decision or the form is incomplete."""
    values = values or {}
    before = {"face_status": photo.face_status, "face_regions": photo.face_regions}
    if decision == BLUR:
        if not photo.face_held:
            raise DomainError(_("This photo has no area to blur."), field="photo")
        new, after = blurred(photo, data, content_type)
        return Decision(DECISION_EVENTS[BLUR], before, after, new)
    if not photo.face_awaiting:
        raise DomainError(_("This photo was already reviewed: there is nothing to decide."),
                          field="photo")
    if decision == CONSENT:
        after = consented(photo, bool(values.get("agreed")), values.get("face_note"))
    elif decision == CONFIRM_NO_PERSON:
        after = no_person(photo, bool(values.get("looked")))
    elif decision == MARK:
        after = marked(photo, values)
    else:
        raise DomainError(_("Choose what to do with the photo."), field="photo")
    return Decision(DECISION_EVENTS[decision], before, after)


def blurred(photo: FaceReviewMixin, data: bytes, content_type: str) -> tuple[bytes, dict]:
    """The photo's bytes with its stored regions blurred, the check run again on the result and
    recorded; returns ``(new bytes, audit details)``. The caller stores the bytes, audits."""
    regions = list(photo.face_regions or [])
    new = blur_regions(data, content_type, regions)
    status, again = check(new)
    photo.face_status = BLURRED if status == UNREVIEWED else HELD
    photo.face_regions = again or None
    photo.face_note = None
    return new, {"regions_blurred": regions, "face_status": photo.face_status,
                 "regions_found_after": again}


def clean_note(note: str | None) -> str:
    """A consent note on one line, 1-300 characters; raises DomainError(face_note)."""
    text = " ".join((note or "").split())
    if not text:
        raise DomainError(_("Write how the person agreed to be shown (for example “Agreed in "
                            "writing on 3 May, form kept in the office”)."), field="face_note")
    if len(text) > CONSENT_NOTE_MAX:
        raise DomainError(_("Keep the note to %(max)d characters.", max=CONSENT_NOTE_MAX),
                          field="face_note")
    return text


def consented(photo: FaceReviewMixin, agreed: bool, note: str | None) -> dict:
    """Record that staff confirmed on purpose that the people shown agreed; returns the audit
    details. Raises DomainError when the box is not ticked or the note is missing."""
    if not agreed:
        raise DomainError(_("Tick the box to confirm that the person agreed to be shown."),
                          field="agreed")
    text = clean_note(note)
    photo.face_status = CONSENTED
    photo.face_note = text
    return {"face_status": CONSENTED, "note": text, "regions": photo.face_regions}


def no_person(photo: FaceReviewMixin, looked: bool) -> dict:
    """Record that staff looked at a photo in which the check found no face and confirmed on
    purpose that no person can be recognised in it; returns the audit details. A photo with
    a face found (held) is blurred or consented to instead."""
    if photo.face_held:
        raise DomainError(_("The check found a face in this photo: blur it or confirm that the "
                            "person agreed."), field="photo")
    if not looked:
        raise DomainError(_("Tick the box to confirm that you looked at the photo and no person "
                            "can be recognized in it."), field="looked")
    photo.face_status = NO_PERSON
    photo.face_note = None
    return {"face_status": NO_PERSON}


def _percent(values: dict, name: str) -> float:
    raw = str(values.get(name) or "").strip().replace("％", "").replace("%", "")
    try:
        number = float(raw)
    except ValueError:
        raise DomainError(_("Give the area as numbers from 0 to 100 (percent of the photo)."),
                          field=name) from None
    if not 0 <= number <= 100:
        raise DomainError(_("Give the area as numbers from 0 to 100 (percent of the photo)."),
                          field=name)
    return number


def marked(photo: FaceReviewMixin, values: dict) -> dict:
    """Add an area staff saw a person in (``left``, ``top``, ``width``, ``height`` in percent
    of the photo) to the regions to blur: the photo is held until it is blurred (or the person's
    consent confirmed). Returns the audit details."""
    left, top = _percent(values, "left"), _percent(values, "top")
    width, height = _percent(values, "width"), _percent(values, "height")
    if width <= 0 or height <= 0 or left + width > 100 or top + height > 100:
        raise DomainError(_("The area must have a size and lie inside the photo."), field="width")
    size = (photo.width, photo.height)  # type: ignore[attr-defined] - both photo models have them
    region = [round(left * size[0] / 100), round(top * size[1] / 100),
              max(1, round(width * size[0] / 100)), max(1, round(height * size[1] / 100))]
    photo.face_regions = sorted([*(photo.face_regions or []), region])
    photo.face_status = HELD
    photo.face_note = None
    return {"face_status": HELD, "region_marked": region, "face_regions": photo.face_regions}


def check_version(photo: FaceReviewMixin, seen: str | None) -> None:
    """Refuse a decision made while looking at another photo than the one stored now (another
    staff member replaced it, or it was blurred, after the page was opened)."""
    if not seen or seen != photo.review_version:
        raise DomainError(_("The photo changed after this page was opened: look at it again "
                            "before you decide."))
