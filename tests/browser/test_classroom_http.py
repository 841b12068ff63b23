"""Classroom HTTP details against a real server: pages and scripts travel gzip-compressed with
cache headers (slow phone links), and the quiz file endpoints refuse bad input with codes."""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request

import pytest

from tests.browser.support import WebServer, http_json


def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, {k.lower(): v for k, v in res.headers.items()}, res.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


COMPRESSED = ["/play", "/host", "/static/js/play.js", "/static/css/app.css", "/static/i18n/ru.json"]


@pytest.mark.parametrize("path", COMPRESSED)
def test_pages_and_scripts_are_compressed(web_server: WebServer, path: str) -> None:
    status, plain_headers, plain = get(web_server.base_url + path)
    assert status == 200 and "content-encoding" not in plain_headers  # a client that did not ask
    status, headers, body = get(web_server.base_url + path, **{"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == plain
    assert len(body) < len(plain) / 2, (path, len(body), len(plain))


def test_static_files_revalidate_and_images_are_kept(web_server: WebServer) -> None:
    status, headers, _ = get(web_server.base_url + "/static/js/play.js")
    assert status == 200 and headers["cache-control"] == "no-cache" and headers["etag"]
    status, again, body = get(web_server.base_url + "/static/js/play.js", **{"If-None-Match": headers["etag"]})
    assert (status, body) == (304, b"")
    assert again["cache-control"] == "no-cache"
    status, headers, _ = get(web_server.base_url + "/static/img/favicon.svg")
    assert status == 200 and headers["cache-control"] == "public, max-age=86400"


def test_quiz_file_endpoints_refuse_with_codes(web_server: WebServer) -> None:
    base = web_server.base_url
    req = urllib.request.Request(f"{base}/api/quiz/import?filename=notes.txt", data=b"no quiz here", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=10)
    assert refused.value.code == 422
    assert b'"code":"unsupported_format"' in refused.value.read()
    big = urllib.request.Request(f"{base}/api/quiz/import?filename=big.csv", data=b"x" * (2 * 1024 * 1024 + 1))
    with pytest.raises(urllib.error.HTTPError) as too_big:
        urllib.request.urlopen(big, timeout=10)
    assert too_big.value.code == 413
    aiken = b"2 + 2 = ?\nA. 3\nB. 4\nANSWER: B\n"
    req = urllib.request.Request(f"{base}/api/quiz/import?filename=maths.txt", data=aiken, method="POST")
    with urllib.request.urlopen(req, timeout=10) as res:
        assert b'"options":["3","4"]' in res.read()

    status, body = http_json("POST", f"{base}/api/quiz/export?format=pdf", {"title": "x", "questions": []})
    assert (status, body["error"]["code"]) == (400, "unsupported_format")
    status, body = http_json("POST", f"{base}/api/quiz/export?format=gift", {"title": "x", "questions": []})
    assert (status, body["error"]["code"]) == (422, "invalid_quiz")  # as POST /api/games answers
    ok = {"title": "T", "questions": [{"text": "Q", "options": ["a", "b"], "correct": 1, "time_limit": 10}]}
    req = urllib.request.Request(
        f"{base}/api/quiz/export?format=aiken", data=json.dumps(ok).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as res:
        assert res.read() == b"Q\nA. a\nB. b\nANSWER: B\n"


def test_the_report_is_the_hosts_and_waits_for_the_end(web_server: WebServer) -> None:
    quiz = {"title": "R", "questions": [{"text": "Q", "options": ["a", "b"], "correct": 0, "time_limit": 10}]}
    game = web_server.create_game(quiz)
    url = f"{web_server.base_url}/api/games/{game['pin']}/report.xlsx"
    assert http_json("GET", url)[0] == 401
    assert http_json("GET", url, headers={"Authorization": "Bearer nope"})[0] == 403
    status, body = http_json("GET", url, headers={"Authorization": f"Bearer {game['host_token']}"})
    assert (status, body["error"]["code"]) == (409, "not_finished")
    assert http_json("GET", f"{web_server.base_url}/api/games/000000/report.xlsx")[0] == 404
