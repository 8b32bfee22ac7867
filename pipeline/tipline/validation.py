"""What a tip or follow-up may contain, and a human sentence for everything it may not."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from pipeline.tipline.i18n import N_, Message

MESSAGE_MAX = 5000
SHORT_MAX = 500
FIELD_LABELS = {"message": "What happened", "school": "School", "when_where": "When and where",
                "urgent": "Urgent", "contact": "Contact"}  # for Pydantic's own (English) words only
# The stable code of each refusal in the JSON API's "code", by status unless a raise names its own.
CODES = {400: "bad_request", 401: "passphrase_required", 404: "not_found", 405: "method_not_allowed",
         413: "too_large", 415: "unsupported_media_type", 422: "invalid_fields", 429: "rate_limited",
         500: "unexpected", 503: "unavailable"}
FIX_FIELDS = N_("Please fix the marked fields and send again.")


class InputError(Exception):
    """A request the tip line refuses, with the HTTP status and words a person can act on
    (``Message``s, so a page can show them in the tipster's language)."""

    def __init__(self, status: int, message: str, fields: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields or {}
        self.headers = headers or {}
        self.code = code or CODES.get(status, "error")


def _text(value: str | None) -> str | None:
    # Lone surrogates pass JSON decoding but cannot be stored or published as UTF-8.
    if value is not None:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("contains characters that are not valid text") from None
    return value


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    @field_validator("*", mode="after")
    @classmethod
    def _valid_text(cls, value):
        return _text(value) if isinstance(value, str) else value


class TipIn(_In):
    message: str = Field(min_length=1, max_length=MESSAGE_MAX)
    school: str | None = Field(default=None, max_length=200)
    when_where: str | None = Field(default=None, max_length=SHORT_MAX)
    urgent: StrictBool = False
    contact: str | None = Field(default=None, max_length=SHORT_MAX)


class FollowUpIn(_In):
    message: str = Field(min_length=1, max_length=MESSAGE_MAX)


def parse(model: type[_In], data: object) -> _In:
    if not isinstance(data, dict):
        # Only the JSON API can send anything but an object; its words stay English.
        raise InputError(422, 'The body must be a JSON object, for example {"message": "what you saw"}.',
                         code="not_an_object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = {}
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "body"
            fields.setdefault(name, _sentence(name, err, model))
        raise InputError(422, Message(FIX_FIELDS), fields) from None


def _sentence(name: str, err: dict, model: type[_In]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = ", ".join(model.model_fields)
        return Message("'{name}' is not part of a tip. Allowed fields: {allowed}.", name=name, allowed=allowed)
    if name == "message" and kind in ("missing", "string_too_short"):
        return Message("Please write what you saw or heard.")
    if kind == "string_too_long":
        limit = err.get("ctx", {}).get("max_length")
        return Message("Please keep this under {limit} characters (it has {count}).", limit=limit,
                       count=len(err["input"]))
    if kind in ("string_type",):
        return Message("This must be text.")
    if kind in ("bool_type", "bool_parsing"):
        return Message("This must be true or false.")
    if kind == "value_error":
        return Message("This contains characters that are not valid text.")
    # Pydantic's own words (English): only the JSON API can send such values.
    return f"{FIELD_LABELS.get(name, name)}: {err['msg']}."


class Schools:
    """Schools a tipster may choose, from the district's gazetteer; names, ids and aliases match."""

    def __init__(self, names: list[str], lookup: dict[str, str]):
        self.names = names
        self._lookup = lookup

    @classmethod
    def from_file(cls, path: Path) -> Schools:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        names, lookup = [], {}
        for school in data.get("schools", []):
            names.append(school["name"])
            for term in (school["name"], school.get("id", ""), *school.get("aliases", [])):
                if term:
                    lookup[term.casefold()] = school["name"]
        return cls(names, lookup)

    def canonical(self, typed: str | None) -> str | None:
        if not typed:
            return None
        name = self._lookup.get(typed.casefold())
        if name is None:
            raise InputError(422, Message(FIX_FIELDS),
                             {"school": Message("Choose a school from the list, or leave it empty.")})
        return name
