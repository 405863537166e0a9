"""Staff forms for posts and their photos.

The forms check shape only (present, not too long, a readable date); the rules (slug format
and uniqueness, known kind and cases, an embargo in the future) live in the services.
"""

from __future__ import annotations

from datetime import datetime

from flask_wtf.file import FileField, FileRequired
from wtforms import Field, RadioField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError
from wtforms.widgets import DateTimeLocalInput

from tracker.core.forms import Form
from tracker.core.time import as_utc, local_zone
from tracker.posts import services
from tracker.posts.images import ALT_MAX
from tracker.posts.models import KIND_LABELS, KINDS, PUBLISHED, SCHEDULED, Post

_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")
WIDGET_FORMAT = "%Y-%m-%dT%H:%M"


class LocalDateTimeField(Field):
    """A date and time typed in the NGO's time zone (TRACKER_TIMEZONE), as a naive value.

    A malformed value is remembered in ``parse_error`` rather than failing the form at once:
    it only matters when staff schedule the post (see ``PostForm.validate_publish_at``).
    """

    widget = DateTimeLocalInput()

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.parse_error = False

    def _value(self) -> str:
        if self.raw_data:
            return " ".join(self.raw_data)
        return self.data.strftime(WIDGET_FORMAT) if self.data else ""

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = None
        self.parse_error = False
        raw = " ".join(valuelist).strip() if valuelist else ""
        if not raw:
            return
        for fmt in _FORMATS:
            try:
                self.data = datetime.strptime(raw, fmt)  # noqa: DTZ007 - local time, zoned below
            except ValueError:
                continue
            return
        self.parse_error = True


class PostForm(Form):
    """Write or edit a post, and choose whether it stays a draft, waits for an embargo or
    goes out now."""

    title = StringField("Title", validators=[DataRequired("Give the post a title."), Length(max=200)])
    slug = StringField("Address (slug)", validators=[DataRequired("Give the post an address."),
                                                     Length(max=services.SLUG_MAX)])
    kind = SelectField("Kind", choices={k: KIND_LABELS[k] for k in KINDS}, validate_choice=False)
    body_markdown = TextAreaField("Text (Markdown)", validators=[Length(max=services.BODY_MAX)])
    cases = SelectMultipleField("Linked cases", coerce=int, validate_choice=False)
    publish = RadioField(
        "Publication",
        choices={
            services.SAVE_DRAFT: "Save as draft (not public)",
            services.SCHEDULE: "Schedule: public from the embargo time below",
            services.PUBLISH_NOW: "Publish now",
        },
        default=services.SAVE_DRAFT,
        validate_choice=False,
    )
    publish_at = LocalDateTimeField("Embargo until")

    def validate_publish_at(self, field: LocalDateTimeField) -> None:
        if self.publish.data == services.SCHEDULE and field.parse_error:
            raise ValidationError("Enter the date and time like 2025-10-01 09:00.")

    def embargo_utc(self) -> datetime | None:
        """The embargo typed in local time, as an aware datetime (None when not given)."""
        if self.publish_at.data is None:
            return None
        return as_utc(self.publish_at.data.replace(tzinfo=local_zone()))

    def to_input(self) -> services.PostInput:
        """The form's values for the services."""
        return services.PostInput(
            title=self.title.data or "",
            slug=(self.slug.data or "").strip(),
            kind=self.kind.data or "",
            body_markdown=self.body_markdown.data or "",
            case_ids=tuple(self.cases.data or ()),
            publish=self.publish.data or "",
            publish_at=self.embargo_utc() if self.publish.data == services.SCHEDULE else None,
        )


def post_form_data(post: Post, now: datetime) -> dict:
    """A post's current values for the edit form (embargo shown in local time).

    A scheduled post whose embargo has lifted is already public: the form offers to keep it
    published, which records it as published.
    """
    if post.status == PUBLISHED or (post.status == SCHEDULED and post.is_visible(now)):
        choice = services.PUBLISH_NOW
    elif post.status == SCHEDULED:
        choice = services.SCHEDULE
    else:
        choice = services.SAVE_DRAFT
    local = as_utc(post.publish_at).astimezone(local_zone()).replace(tzinfo=None) \
        if post.publish_at else None
    return {
        "title": post.title,
        "slug": post.slug,
        "kind": post.kind,
        "body_markdown": post.body_markdown,
        "cases": [c.id for c in post.cases],
        "publish": choice,
        "publish_at": local,
    }


class PhotoForm(Form):
    """Upload a photo for a post."""

    photo = FileField("Photo", validators=[FileRequired("Choose a photo to upload.")])
    alt_text = StringField("Description (alt text)", validators=[Length(max=ALT_MAX)])
