"""Question images against a real server and Redis: type judged by content, size bounded,
served with an immutable cache by content hash, tied to a game only by its host; then in
Chromium, an image chosen in the editor shows on the projector and on the phone."""

from __future__ import annotations

import hashlib
import re
import struct
import urllib.request
import zlib
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.support import Pages, WebServer, http_json, quiz, screenshot, wait_until

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG of one colour, built by hand (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(row * height)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def post_bytes(url: str, data: bytes, content_type: str = "application/octet-stream") -> tuple[int, Any, bytes]:
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, res.headers, res.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def test_images_are_checked_by_content_bounded_and_cached(web_server: WebServer) -> None:
    base = web_server.base_url
    image = png(40, 30, (200, 30, 60))
    status, _, body = post_bytes(f"{base}/api/images", image, "text/plain")  # the header is not believed
    assert status == 201, body
    image_id = hashlib.sha256(image).hexdigest()
    assert b'"id":"' + image_id.encode() in body
    assert post_bytes(f"{base}/api/images", image)[0] == 201  # the same picture again: kept once

    status, _, body = post_bytes(f"{base}/api/images", b"<svg onload='alert(1)'/>", "image/png")
    assert (status, b'"code":"image_type"' in body) == (415, True)
    status, _, body = post_bytes(f"{base}/api/images", b"\x89PNG\r\n\x1a\n" + b"\0" * (512 * 1024), "image/png")
    assert (status, b'"code":"image_too_large"' in body) == (413, True)

    with urllib.request.urlopen(f"{base}/api/images/{image_id}", timeout=10) as res:
        assert res.read() == image
        assert res.headers["Content-Type"] == "image/png"
        assert res.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        etag = res.headers["ETag"]
    req = urllib.request.Request(f"{base}/api/images/{image_id}", headers={"If-None-Match": etag})
    with pytest.raises(urllib.error.HTTPError) as not_modified:
        urllib.request.urlopen(req, timeout=10)
    assert not_modified.value.code == 304
    assert http_json("GET", f"{base}/api/images/{'0' * 64}")[0] == 404
    assert http_json("GET", f"{base}/api/images/../../etc/passwd")[0] == 404

    # Only the game's host ties images to its questions.
    game = web_server.create_game(quiz("Pictures", [("Which colour?", ["Red", "Blue"], 0), ("Again?", ["a", "b"], 1)]))
    pin, token = game["pin"], game["host_token"]
    url = f"{base}/api/games/{pin}/images"
    assert http_json("PUT", url, {"images": [image_id, None]})[0] == 401
    assert http_json("PUT", url, {"images": [image_id, None]}, {"Authorization": "Bearer wrong"})[0] == 403
    bearer = {"Authorization": f"Bearer {token}"}
    status, body = http_json("PUT", url, {"images": [image_id, None, None]}, bearer)  # more than the questions
    assert (status, body["error"]["code"]) == (400, "bad_message")
    status, body = http_json("PUT", url, {"images": ["f" * 64]}, bearer)
    assert (status, body["error"]["code"]) == (400, "unknown_image")
    assert http_json("PUT", url, {"images": [image_id, None]}, bearer) == (200, {"images": [image_id, None]})
    assert http_json("GET", url) == (200, {"images": [image_id, None]})


def test_an_image_from_the_editor_shows_on_the_projector_and_the_phone(pages: Pages) -> None:
    host = pages.open("/host?lang=en", name="teacher")
    host.get_by_test_id("editor-new").click()
    host.get_by_test_id("editor-title").fill("Flags")
    host.get_by_test_id("editor-lead-in").fill("0")
    host.get_by_test_id("question-text-0").fill("Which colour is this?")
    host.get_by_test_id("option-0-0").fill("Red")
    host.get_by_test_id("option-0-1").fill("Green")
    host.get_by_test_id("correct-0-0").check()
    host.get_by_test_id("time-limit-0").fill("30")
    host.get_by_test_id("image-0").set_input_files(
        files=[{"name": "red.png", "mimeType": "image/png", "buffer": png(160, 90, (210, 20, 40))}]
    )
    expect(host.get_by_test_id("image-preview-0")).to_be_visible()
    host.get_by_test_id("editor-add-question").click()  # a second question without an image
    host.get_by_test_id("question-text-1").fill("No picture here")
    host.get_by_test_id("option-1-0").fill("Yes")
    host.get_by_test_id("option-1-1").fill("No")
    host.get_by_test_id("correct-1-0").check()
    host.get_by_test_id("time-limit-1").fill("30")
    host.get_by_test_id("editor-start").click()
    expect(host.get_by_test_id("pin")).to_have_text(re.compile(r"^\d{6}$"))
    pin = host.get_by_test_id("pin").inner_text()
    phone = pages.open(f"/play?pin={pin}&lang=en", name="phone", phone=True)
    phone.get_by_test_id("name-input").fill("Looker")
    phone.get_by_test_id("join").click()
    expect(host.get_by_test_id("start")).to_be_enabled()
    host.get_by_test_id("start").click()

    for page in (host, phone):
        picture = page.get_by_test_id("question-image")
        expect(picture).to_be_visible()
        wait_until(page, "document.querySelector('#q-image')?.naturalWidth === 160")
    screenshot(host, "classroom-image-host")
    screenshot(phone, "classroom-image-phone")
    phone.get_by_test_id("option-0").click()
    expect(host.get_by_test_id("distribution")).to_be_visible()
    expect(host.get_by_test_id("question-image")).to_be_visible()  # kept on the reveal
    host.get_by_test_id("next").click()
    host.get_by_test_id("next").click()
    expect(host.get_by_test_id("question-text")).to_have_text("No picture here")
    expect(host.get_by_test_id("question-image")).to_be_hidden()
    expect(phone.get_by_test_id("question-image")).to_be_hidden()
    assert not pages.problems(), pages.problems()


def test_one_address_uploads_a_bounded_number_of_images(web_server: WebServer) -> None:
    """Last in this module: it spends this address's hourly upload budget (120)."""
    refused = None
    for n in range(121):
        status, headers, body = post_bytes(f"{web_server.base_url}/api/images", b"GIF89a" + n.to_bytes(2, "big"))
        if status != 201:
            refused = (n, status, headers, body)
            break
    assert refused is not None, "121 uploads from one address were all taken"
    n, status, headers, body = refused
    assert status == 429 and b'"code":"rate_limited"' in body and int(headers["Retry-After"]) > 0
    unseen = hashlib.sha256(b"GIF89a" + n.to_bytes(2, "big")).hexdigest()
    assert http_json("GET", f"{web_server.base_url}/api/images/{unseen}")[0] == 404  # refused: not stored
