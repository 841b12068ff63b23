"""Translation tables: identical key sets, no empty strings, matching placeholders, and every key
the pages use (markup and scripts) present. Runs without a browser."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "gameserver" / "static"
LANGS = ["en", "ru", "uz"]
PROTOCOL_ERROR_CODES = [
    "bad_message",
    "unknown_type",
    "name_taken",
    "name_invalid",
    "bad_token",
    "locked",
    "game_full",
    "finished",
    "not_host",
    "not_active",
    "wrong_question",
    "too_late",
    "already_answered",
    "invalid_option",
    "rate_limited",
]
PLAYER_STATUSES = [
    "join",
    "resuming",
    "wait",
    "get_ready",
    "question",
    "answered",
    "timeup",
    "correct",
    "wrong",
    "missed",
    "finished",
    "winner",
    "kicked",
    "game_gone",
]


def load(lang: str) -> dict[str, str]:
    return dict(json.loads((STATIC / "i18n" / f"{lang}.json").read_text(encoding="utf-8")))


def used_keys() -> set[str]:
    keys: set[str] = set()
    for html in STATIC.glob("*.html"):
        text = html.read_text(encoding="utf-8")
        keys |= set(re.findall(r'data-i18n="([^"]+)"', text))
        for attrs in re.findall(r'data-i18n-attr="([^"]+)"', text):
            keys |= {pair.split(":")[1].strip() for pair in attrs.split(";") if ":" in pair}
    for js in (STATIC / "js").glob("*.js"):
        text = js.read_text(encoding="utf-8")
        keys |= set(re.findall(r'\bt\(\s*"([a-z_.]+)"', text))
        keys |= set(re.findall(r'"((?:host|play|err|conn|results|lang)\.[a-z_.]+)"', text))
    keys |= {f"err.{c}" for c in PROTOCOL_ERROR_CODES}
    keys |= {f"play.status.{s}" for s in PLAYER_STATUSES}
    keys |= {f"lang.{code}" for code in LANGS}
    return keys


def test_same_keys_in_every_language() -> None:
    base = set(load("en"))
    for lang in LANGS[1:]:
        assert set(load(lang)) == base, lang


@pytest.mark.parametrize("lang", LANGS)
def test_no_empty_strings_and_same_placeholders(lang: str) -> None:
    en = load("en")
    table = load(lang)
    for key, value in table.items():
        assert isinstance(value, str) and value.strip(), (lang, key)
        assert sorted(re.findall(r"\{(\w+)\}", value)) == sorted(re.findall(r"\{(\w+)\}", en[key])) or (
            key == "host.setup.json_placeholder"
        ), (lang, key)


def test_every_used_key_is_translated() -> None:
    table = load("en")
    missing = sorted(k for k in used_keys() if k not in table)
    assert not missing, missing
