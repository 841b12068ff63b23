"""The web routes over plain HTTP: security headers (CSP without inline scripts), pages with no
inline script or handler, the QR code, and bundled samples the server accepts."""

from __future__ import annotations

import re
import urllib.request
from html.parser import HTMLParser

import pytest

from tests.browser.support import ROOT, WebServer, http_json

STATIC = ROOT / "gameserver" / "static"


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=10) as res:
        return res.status, {k.lower(): v for k, v in res.headers.items()}, res.read()


@pytest.mark.parametrize("path", ["/host", "/play", "/static/js/host.js", "/api/samples", "/qr.svg?pin=123456"])
def test_security_headers(web_server: WebServer, path: str) -> None:
    status, headers, _ = fetch(web_server.base_url + path)
    assert status == 200
    csp = headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["script-src"] == ["'self'"], csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert directives["object-src"] == ["'none'"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


class _Inline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {k for k, _ in attrs}
        if tag == "script":
            if "src" not in names:
                self.problems.append("inline <script>")
            self._in_script = True
        self.problems += [f"<{tag} {k}=...>" for k in names if k.startswith("on") or k == "style"]

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False if tag == "script" else self._in_script

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append("script body")


@pytest.mark.parametrize("page", ["host.html", "play.html"])
def test_pages_have_no_inline_script_style_or_handlers(page: str) -> None:
    parser = _Inline()
    text = (STATIC / page).read_text(encoding="utf-8")
    parser.feed(text)
    assert not parser.problems
    # Every visible string comes from the translation tables: no bare text between tags.
    bare = [t for t in re.findall(r">([^<>]+)<", text) if t.strip()]
    assert not bare, bare


def test_scripts_never_use_innerhtml() -> None:
    for js in (STATIC / "js").glob("*.js"):
        code = js.read_text(encoding="utf-8")
        assert not re.search(r"\b(innerHTML|outerHTML|insertAdjacentHTML|document\.write)\b", code), js.name
        assert "eval(" not in code and "new Function" not in code, js.name


def test_qr_code(web_server: WebServer) -> None:
    status, headers, body = fetch(f"{web_server.base_url}/qr.svg?pin=654321")
    assert status == 200 and headers["content-type"].startswith("image/svg+xml")
    assert body.startswith(b"<svg") and b"viewBox" in body
    assert b"/play?pin=654321" in body  # the join URL, as the SVG's title
    assert http_json("GET", f"{web_server.base_url}/qr.svg?pin=12ab")[0] == 400
    status, body_json = http_json("GET", f"{web_server.base_url}/api/join/654321")
    assert status == 200 and body_json["url"].endswith("/play?pin=654321")


def test_root_redirects_to_the_player_page(web_server: WebServer) -> None:
    status, _, body = fetch(f"{web_server.base_url}/?pin=123456")
    assert status == 200 and b'id="pin-input"' in body


def test_every_bundled_sample_is_a_playable_quiz(web_server: WebServer) -> None:
    status, listing = http_json("GET", f"{web_server.base_url}/api/samples")
    assert status == 200
    names = [s["name"] for s in listing["samples"]]
    assert {"world-capitals", "solar-system", "ozbekiston", "obshchie-znaniya"} <= set(names)
    for name in names:
        status, body = http_json("GET", f"{web_server.base_url}/api/samples/{name}")
        assert status == 200, name
        status, created = http_json("POST", f"{web_server.base_url}/api/games", body)
        assert status == 201, (name, created)
        assert created["skipped"] == 0 and created["question_count"] == len(body["questions"])
    assert http_json("GET", f"{web_server.base_url}/api/samples/..%2Fapp")[0] == 404
    assert http_json("GET", f"{web_server.base_url}/api/samples/nope")[0] == 404
