"""The outermost middleware of every HTTP request (API, pages, and any later face): tracking id, body size
limit and NUL refusal, answered in the upstream error shape."""
from __future__ import annotations

import re
import uuid

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A NUL character escaped in JSON (an odd number of backslashes before u0000). PostgreSQL text
# cannot hold NUL, so it is refused (400) for every request on both databases, like a NUL in the URL.
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_FORM_NUL = re.compile(rb"%00|\x00")


class MultipartNulScanner:
    """Follows a multipart body chunk by chunk, as the app reads it, and reports a NUL in any part's
    headers (field names, file names) or in a non-file field's value. File contents are not looked at:
    an upload may be hundreds of megabytes, and a NUL inside a CSV file is the CSV reader's matter (a
    clear file error). Nothing is buffered but the current part's headers."""

    def __init__(self, content_type: bytes):
        _, params = parse_options_header(content_type)
        self.found = False
        self._field = bytearray()
        self._value = bytearray()
        self._disposition = b""
        self._is_file = False
        self._parser: MultipartParser | None = None
        boundary = params.get(b"boundary")
        if boundary:
            self._parser = MultipartParser(boundary, {
                "on_part_begin": self._part_begin, "on_header_field": self._header_field,
                "on_header_value": self._header_value, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished, "on_part_data": self._data})

    def feed(self, chunk: bytes) -> bool:
        """True once a NUL was seen. A body the parser cannot follow is left to the app to refuse."""
        if self._parser is not None and not self.found and chunk:
            try:
                self._parser.write(chunk)
            except MultipartParseError:
                self._parser = None
        return self.found

    def _part_begin(self) -> None:
        self._disposition, self._is_file = b"", False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field.extend(data[start:end])

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value.extend(data[start:end])

    def _header_end(self) -> None:
        if b"\x00" in self._field or b"\x00" in self._value:
            self.found = True
        if bytes(self._field).strip().lower() == b"content-disposition":
            self._disposition = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        # A part is a file as the app's form parser sees it (starlette reads the same options).
        self._is_file = b"filename" in parse_options_header(self._disposition)[1]

    def _data(self, data: bytes, start: int, end: int) -> None:
        if not self._is_file and data.find(b"\x00", start, end) >= 0:
            self.found = True


class RequestGuard:
    """Gives every request a tracking id, refuses bodies over the configured size (413) and NUL characters
    (400) in the URL, a JSON or HTML-form body, or a multipart body's field names, file names and
    non-file values."""

    def __init__(self, app: ASGIApp, max_body: int, max_upload: int):
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Kept when an outer middleware (the operations face's request log) gave the request its id already.
        state = scope.setdefault("state", {})
        tracking = state.get("tracking_id") or f"RTMHUB_{uuid.uuid4()}"
        state["tracking_id"] = tracking
        headers = dict(scope.get("headers") or [])
        limit = self.max_upload if headers.get(b"content-type", b"").startswith(b"multipart/") else self.max_body
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._too_large(send, tracking, limit)
            return
        if "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b""):
            await self._nul(send, tracking)
            return
        seen = 0
        content_type = headers.get(b"content-type", b"")
        # JSON and HTML-form bodies are short: kept to look for an encoded NUL once they are complete.
        json_body = bytearray() if b"json" in content_type or b"x-www-form-urlencoded" in content_type else None
        nul = _JSON_NUL if b"json" in content_type else _FORM_NUL
        multipart = MultipartNulScanner(content_type) if content_type.startswith(b"multipart/") else None
        refused: list[type[Exception]] = []  # set when the body is refused while the app reads it
        responded = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                seen += len(chunk)
                if seen > limit:
                    refused.append(_TooLarge)
                    raise _TooLarge()
                if json_body is not None:
                    json_body.extend(chunk)
                    if not message.get("more_body") and nul.search(json_body):
                        refused.append(_HasNul)
                        raise _HasNul()
                if multipart is not None and multipart.feed(chunk):
                    refused.append(_HasNul)
                    raise _HasNul()
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal responded
            if refused:
                # FastAPI turns an exception raised while it reads the body into a 400 of its own: answer ours.
                if message["type"] == "http.response.start" and not responded:
                    responded = True
                    await (self._nul(send, tracking) if refused[0] is _HasNul else
                           self._too_large(send, tracking, limit))
                return
            if message["type"] == "http.response.start":
                responded = True
                message.setdefault("headers", []).append((b"trackingid", tracking.encode()))
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_id)
        except (_TooLarge, _HasNul) as exc:
            if not responded:
                await (self._nul(send, tracking) if isinstance(exc, _HasNul) else self._too_large(send, tracking,
                                                                                                  limit))

    async def _nul(self, send: Send, tracking: str) -> None:
        await self._refuse(send, tracking, 400, "The request contains a NUL character (\\u0000), which no value "
                           "may contain; remove it.")

    async def _too_large(self, send: Send, tracking: str, limit: int) -> None:
        await self._refuse(send, tracking, 413, f"The request body is larger than {limit} bytes; send less data.",
                           "Request body too large.")

    async def _refuse(self, send: Send, tracking: str, status: int, message: str, description: str | None = None):
        import json

        body = json.dumps({"message": message,
                           "errors": [{"description": description or message, "errorCode": status}],
                           "trackingId": tracking}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class _HasNul(Exception):
    pass
