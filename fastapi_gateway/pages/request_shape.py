"""Uploads Gradio's ``/upload`` route would fail on with a 500, refused as a 400 instead.

Gradio answers most malformed multipart bodies with a 400, but two shapes escape its error
handling (Gradio 6.31, python-multipart 0.0.34) as a 500 with a traceback:

* a ``boundary`` longer than python-multipart's ``MAX_BOUNDARY_LENGTH``: its
  ``MultipartParser`` raises ``FormParserError`` when built, outside Gradio's ``try``;
* a ``files`` part without a ``filename`` (a plain field): ``upload_fn`` raises ``TypeError``;

and a third only logs one (the client has gone): an upload cut off by a disconnect, where
Starlette's ``ClientDisconnect`` escapes Gradio's parser.

The first shows in the headers. The second needs the body, which may be as large as the
upload limit, so it is checked as it streams past: the part headers are parsed with
python-multipart, named and decoded as Gradio decodes them, and at a plain ``files`` part
the stream raises python-multipart's own ``MultipartParseError``, which Gradio's parser
catches and answers ``400`` like any other unparsable body (deleting the parts it saved); a
disconnect is turned into the same error. A body the checker cannot parse is left to
Gradio, which fails on it the same way and answers ``400`` itself.
"""

from __future__ import annotations

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MAX_BOUNDARY_LENGTH, MultipartParser, parse_options_header
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope

from fastapi_gateway.exceptions import MalformedUpload

__all__ = ["check_upload"]

_FILES_FIELD = "files"  # the field Gradio's upload route reads, and wants only files in


def check_upload(scope: Scope, receive: Receive) -> Receive:
    """The ``receive`` to hand Gradio's upload route; raises ``MalformedUpload`` (answer 400)
    when the ``Content-Type`` alone shows Gradio would fail on the request."""
    content_type = Headers(scope=scope).get("content-type")
    media_type, params = parse_options_header(content_type)
    if media_type != b"multipart/form-data" or b"boundary" not in params:
        return receive  # Gradio refuses these itself ("Invalid content type.", "Missing boundary")
    boundary = params[b"boundary"]
    if len(boundary) > MAX_BOUNDARY_LENGTH:
        raise MalformedUpload(f"The multipart boundary is {len(boundary)} bytes long; at most {MAX_BOUNDARY_LENGTH} are accepted.")
    return _PartChecker(boundary, params.get(b"charset", b"utf-8").decode("latin-1"), receive).receive


class _PartChecker:
    """Parses the part headers of a streaming multipart body; raises at a plain ``files`` part."""

    def __init__(self, boundary: bytes, charset: str, receive: Receive) -> None:
        self._receive = receive
        self._charset = charset
        self._field = b""
        self._value = b""
        self._disposition = b""
        self._refusal: str | None = None
        self._parser: MultipartParser | None = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
            },
        )

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.disconnect":
            raise MultipartParseError("The upload was cut off: the client left before the end of the body.")
        if self._parser is not None and message["type"] == "http.request":
            try:
                self._parser.write(message.get("body", b""))
            except MultipartParseError:
                self._parser = None  # Gradio's own parser fails here too, and answers 400
            if self._refusal is not None:
                raise MultipartParseError(self._refusal)
        return message

    def _on_part_begin(self) -> None:
        self._disposition = b""

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _on_header_end(self) -> None:
        if self._field.lower() == b"content-disposition":
            self._disposition = self._value  # the last one counts, as in Gradio
        self._field = self._value = b""

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        name = options.get(b"name")
        if name is not None and b"filename" not in options and _decoded(name, self._charset) == _FILES_FIELD:
            # No "header" in the wording: Gradio swaps any such message for its own.
            self._refusal = f"Every {_FILES_FIELD!r} part of an upload must be a file (with a filename)."


def _decoded(raw: bytes, charset: str) -> str:
    """A field name as Gradio decodes it: the request's charset, else latin-1."""
    try:
        return raw.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return raw.decode("latin-1")
