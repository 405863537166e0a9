"""Staff forms for posts and their photos.

The forms check shape only (present, not too long, a readable date); the rules (slug format
and uniqueness, known kind and cases, an embargo in the future) live in the services.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    Field,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, ValidationError
from wtforms.widgets import DateTimeLocalInput

from tracker.core.forms import Form
from tracker.core.i18n import LANGUAGES, current_locale
from tracker.core.time import as_utc, local_zone
from tracker.posts import services
from tracker.posts.images import ALT_MAX
from tracker.posts.models import (
    KIND_LABELS,
    KINDS,
    POST_LANGUAGES,
    PUBLISHED,
    SCHEDULED,
    Post,
    other_language,
)

_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")
WIDGET_FORMAT = "%Y-%m-%dT%H:%M"
#: WTForms' own words, kept in English as they were and translated like ours
TOO_LONG = _l("Field cannot be longer than %(max)d characters.")


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
    goes out now. The post is written in one language; ``other_title`` and ``other_body`` are
    its optional version in the other language (both or neither: the services decide)."""

    title = StringField(_l("Title"), validators=[DataRequired(_l("Give the post a title.")),
                                                 Length(max=200, message=TOO_LONG)])
    slug = StringField(_l("Address (slug)"),
                       validators=[DataRequired(_l("Give the post an address.")),
                                   Length(max=services.SLUG_MAX, message=TOO_LONG)])
    # SelectChoice: WTForms takes a {value: label} dict only when the labels are plain str
    kind = SelectField(_l("Kind"), choices=[SelectChoice(k, KIND_LABELS[k]) for k in KINDS],
                       validate_choice=False)
    #: each language named in itself ("English", "日本語"); a new post starts in the page's
    language = RadioField(_l("Written in"), choices={code: LANGUAGES[code] for code in POST_LANGUAGES},
                          default=current_locale, validate_choice=False)
    body_markdown = TextAreaField(_l("Text (Markdown)"),
                                  validators=[Length(max=services.BODY_MAX, message=TOO_LONG)])
    other_title = StringField(_l("Title in the other language"),
                              validators=[Length(max=services.TITLE_MAX, message=TOO_LONG)])
    other_body = TextAreaField(_l("Text in the other language (Markdown)"),
                               validators=[Length(max=services.BODY_MAX, message=TOO_LONG)])
    cases = SelectMultipleField(_l("Linked cases"), coerce=int, validate_choice=False)
    publish = RadioField(
        _l("Publication"),
        choices=[
            SelectChoice(services.SAVE_DRAFT, _l("Save as draft (not public)")),
            SelectChoice(services.SCHEDULE, _l("Schedule: public from the embargo time below")),
            SelectChoice(services.PUBLISH_NOW, _l("Publish now")),
        ],
        default=services.SAVE_DRAFT,
        validate_choice=False,
    )
    publish_at = LocalDateTimeField(_l("Embargo until"))

    def validate_publish_at(self, field: LocalDateTimeField) -> None:
        if self.publish.data == services.SCHEDULE and field.parse_error:
            raise ValidationError(_l("Enter the date and time like 2025-10-01 09:00."))

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
            language=self.language.data or "",
            other_title=self.other_title.data or "",
            other_body=self.other_body.data or "",
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
    version = post.version(other_language(post.language))
    return {
        "title": post.title,
        "slug": post.slug,
        "kind": post.kind,
        "language": post.language,
        "body_markdown": post.body_markdown,
        "other_title": version.title if version is not None else "",
        "other_body": version.body_markdown if version is not None else "",
        "cases": [c.id for c in post.cases],
        "publish": choice,
        "publish_at": local,
    }


class PhotoForm(Form):
    """Upload a photo for a post."""

    photo = FileField(_l("Photo"), validators=[FileRequired(_l("Choose a photo to upload."))])
    alt_text = StringField(_l("Description (alt text)"),
                           validators=[Length(max=ALT_MAX, message=TOO_LONG)])
