"""Reading an uploaded recording: a bounded body, and the `file` part of a multipart form.

The body is read chunk by chunk into one buffer and refused (413) as soon as it passes the
bound, or at once when `Content-Length` already says it will, so no upload holds more than the
bound (plus a little multipart framing) in memory. The form is split here rather than by a
general parser: one part is wanted, and its bytes are handed on as a view of the buffer,
never copied. A body that is not multipart (`Content-Type: audio/...`) is the file itself,
for clients that send it raw.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from gameserver.platform.http import PlatformError, invalid

FRAMING_BYTES = 64 * 1024  # what a multipart form may add around the file: boundaries, headers


def too_large(limit: int) -> PlatformError:
    return PlatformError(413, "too_large", f"a recording is at most {limit} bytes")


async def bounded_body(request: Request, limit: int) -> bytearray:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large(limit)
    return body


@dataclass(frozen=True)
class Upload:
    data: memoryview
    declared_type: str


def _boundary(content_type: str) -> bytes | None:
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "boundary" and value:
            return value.strip().strip('"').encode("latin-1")
    return None


def _part_name(headers: bytes) -> tuple[str | None, str]:
    """The form field's name and the part's declared Content-Type."""
    name, declared = None, ""
    for line in headers.decode("latin-1").split("\r\n"):
        key, _, value = line.partition(":")
        if key.strip().lower() == "content-disposition":
            for item in value.split(";"):
                field, _, quoted = item.strip().partition("=")
                if field.lower() == "name":
                    name = quoted.strip('"')
        elif key.strip().lower() == "content-type":
            declared = value.strip().lower()
    return name, declared


def form_file(body: bytearray, content_type: str, field: str = "file") -> Upload | None:
    """The bytes of the form's `field` part (or of a raw audio body); None when there is none."""
    media = content_type.split(";")[0].strip().lower()
    if media.startswith("audio/") or media == "application/octet-stream":
        return Upload(memoryview(body), media) if body else None
    if media != "multipart/form-data":
        return None
    boundary = _boundary(content_type)
    if not boundary:
        raise invalid("a multipart body names its boundary",
                      [{"loc": ["header", "content-type"], "msg": "no boundary", "type": "missing"}])
    delimiter = b"--" + boundary
    position = body.find(delimiter)
    while position != -1:
        start = position + len(delimiter)
        if body[start:start + 2] == b"--":
            return None  # the closing delimiter: no such part
        headers_end = body.find(b"\r\n\r\n", start)
        if headers_end == -1:
            return None
        data_start = headers_end + 4
        following = body.find(b"\r\n" + delimiter, data_start)
        if following == -1:
            return None
        name, declared = _part_name(bytes(body[start:headers_end]))
        if name == field:
            return Upload(memoryview(body)[data_start:following], declared)
        position = following + 2
    return None
