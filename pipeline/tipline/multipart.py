"""The HTML forms' bodies: urlencoded, or multipart/form-data with an optional picture.

Multipart is parsed as it streams in, in memory: the raw picture never touches the disk
(it may carry the tipster's location in its metadata). Text fields are bounded as in a
urlencoded form. The picture is kept up to its own limit; past that, the rest of it is read
and thrown away instead of refusing the request, so the tipster's words still arrive and are
not lost to a photo that is too big. Only a body past ``DRAIN_FACTOR`` times the picture limit
(a video, say) is refused outright, as any oversized request is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from pipeline.tipline.body import FORM_AS, check_declared_length, form_body, media_type, require_media_type, too_large
from pipeline.tipline.i18n import Message
from pipeline.tipline.validation import InputError

FILE_FIELD = "attachment"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
DRAIN_FACTOR = 4
MAX_PARTS = 20  # the tip form has 7 fields
DAMAGED = Message("The form data is damaged. Please send it again.")


def megabytes(size: int) -> str:
    """5242880 -> "5"; what the pages say a limit is."""
    return f"{size / (1024 * 1024):.3g}"


@dataclass(frozen=True)
class Upload:
    """The picture as sent: ``data`` is empty when it was larger than the limit."""

    data: bytes
    too_large: bool = False


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    is_file: bool = False
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0


class _Collector:
    """python-multipart callbacks that build the fields and the first picture part."""

    def __init__(self, text_limit: int, file_limit: int):
        self.text_limit, self.file_limit = text_limit, file_limit
        self.fields: dict[str, str] = {}
        self.upload: Upload | None = None
        self.ended = False
        self._parts = 0
        self._text_bytes = 0
        self._part = _Part()
        self._header = [b"", b""]

    def callbacks(self) -> dict:
        return {"on_part_begin": self._begin, "on_header_field": self._header_field,
                "on_header_value": self._header_value, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_done, "on_part_data": self._data,
                "on_part_end": self._end_part, "on_end": self._end}

    def _begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise InputError(400, DAMAGED, code="too_many_parts")
        self._part = _Part()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header[0] += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._header[1] += data[start:end]

    def _header_end(self) -> None:
        self._part.headers[self._header[0].strip().lower()] = self._header[1].strip()
        self._header = [b"", b""]

    def _headers_done(self) -> None:
        _kind, options = parse_options_header(self._part.headers.get(b"content-disposition", b""))
        try:
            self._part.name = options.get(b"name", b"").decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(400, DAMAGED, code="not_utf8") from None
        # Whatever the part's Content-Type says: the picture is judged by opening it (images.py).
        self._part.is_file = b"filename" in options

    def _data(self, data: bytes, start: int, end: int) -> None:
        part, size = self._part, end - start
        part.size += size
        if not part.is_file:
            self._text_bytes += size
            if self._text_bytes > self.text_limit:
                raise too_large(self.text_limit)
            part.chunks.append(data[start:end])
        elif self._wanted(part) and part.size <= self.file_limit:
            part.chunks.append(data[start:end])
        else:
            part.chunks.clear()  # too large, or not the picture: read past it, keep nothing

    def _wanted(self, part: _Part) -> bool:
        return part.name == FILE_FIELD and self.upload is None

    def _end_part(self) -> None:
        part = self._part
        if not part.is_file:
            try:
                value = b"".join(part.chunks).decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(400, Message("The form data is not valid UTF-8 text."), code="not_utf8") from None
            self.fields.setdefault(part.name, value)  # a repeated field keeps its first value
        elif self._wanted(part) and part.size:  # an empty file box sends an empty part: no picture
            self.upload = Upload(b"", too_large=True) if part.size > self.file_limit else Upload(b"".join(part.chunks))

    def _end(self) -> None:
        self.ended = True


async def form_with_upload(request: Request, text_limit: int, file_limit: int) -> tuple[dict[str, str], Upload | None]:
    """(text fields, the picture or None) of a form post, urlencoded or multipart."""
    kind, params = media_type(request)
    if kind != "multipart/form-data":
        require_media_type(request, FORM_TYPES, FORM_AS)
        return await form_body(request, text_limit), None
    boundary = params.get("boundary", "")
    if not boundary or len(boundary) > 200:
        raise InputError(400, DAMAGED, code="no_boundary")
    total_limit = text_limit + DRAIN_FACTOR * file_limit
    too_big = InputError(413, Message("The request is too large. A picture may be at most {mb} MB.",
                                      mb=megabytes(file_limit)))
    check_declared_length(request, total_limit, too_big)
    collector = _Collector(text_limit, file_limit)
    parser = MultipartParser(boundary.encode("latin-1", "replace"), collector.callbacks())
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > total_limit:
                raise too_big
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError:
        raise InputError(400, DAMAGED) from None
    if not collector.ended:  # cut off before the closing boundary
        raise InputError(400, DAMAGED)
    return collector.fields, collector.upload
