"""The profile's field rules (PLATFORM.md "Accounts"), shared by register and `PATCH /api/me`.

Values are normalised before they are stored or looked up: usernames and emails in lower case,
phone numbers as `+` and digits only. Logins are then compared with `=` on indexed columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from persistence.accounts.passwords import password_problem

USERNAME = re.compile(r"^[a-z0-9_]{3,32}$")
# Deliberately loose (one @, a dot in the domain, no spaces): the only real check of an address
# is a mail that arrives; this catches typos such as a missing @.
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+[0-9]{7,15}$")
PHONE_NOISE = re.compile(r"[\s\-().]")
NAME_MAX = 100
EMAIL_MAX = 254
PROFILE_FIELDS = ("username", "first_name", "last_name", "email", "phone")
OPTIONAL_FIELDS = frozenset({"last_name", "email", "phone"})


@dataclass
class Problems:
    """Field problems collected for one `422 invalid` answer (every bad field at once)."""

    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, name: str, message: str, kind: str = "value_error") -> None:
        """`kind` is the stable sort of problem (pydantic's names), for clients to act on."""
        self.items.append({"loc": ["body", name], "msg": message, "type": kind})

    def __bool__(self) -> bool:
        return bool(self.items)


def normalize_phone(raw: str) -> str:
    """`+998 (90) 123-45-67` → `+998901234567`; a number without `+` gets one."""
    digits = PHONE_NOISE.sub("", raw.strip())
    return digits if digits.startswith("+") else "+" + digits


def normalize_login(raw: str) -> tuple[str, str, str | None]:
    """The username, email and phone forms a login string may stand for."""
    text = raw.strip()
    lowered = text.lower()
    phone = normalize_phone(text)
    return lowered, lowered, phone if PHONE.match(phone) else None


def _text(value: object, name: str, problems: Problems, *, max_length: int, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.add(name, "is required", "missing")
        return None
    if not isinstance(value, str):
        problems.add(name, "must be a string", "string_type")
        return None
    value = value.strip()
    if len(value) > max_length:
        problems.add(name, f"must be at most {max_length} characters", "string_too_long")
        return None
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        problems.add(name, "must not contain control characters")
        return None
    return value


def clean_profile(data: dict[str, Any], problems: Problems, *, partial: bool) -> dict[str, str | None]:
    """The profile fields of `data`, normalised; problems recorded. `partial` (PATCH): only the
    fields present are checked and returned, and `null` clears an optional one."""
    cleaned: dict[str, str | None] = {}
    for name in PROFILE_FIELDS:
        if partial and name not in data:
            continue
        value = data.get(name)
        if name == "username":
            if not isinstance(value, str) or not USERNAME.match(value):
                problems.add(name, "must be 3–32 characters of a-z, 0-9 and _", "string_pattern_mismatch")
            else:
                cleaned[name] = value
        elif name == "first_name":
            cleaned[name] = _text(value, name, problems, max_length=NAME_MAX, required=True)
        elif name == "last_name":
            cleaned[name] = _text(value, name, problems, max_length=NAME_MAX, required=False)
        elif name == "email":
            email = _text(value, name, problems, max_length=EMAIL_MAX, required=False)
            if email is not None and not EMAIL.match(email):
                problems.add(name, "is not an email address")
            cleaned[name] = email.lower() if email else None
        elif name == "phone":
            raw = _text(value, name, problems, max_length=32, required=False)
            phone = normalize_phone(raw) if raw is not None else None
            if phone is not None and not PHONE.match(phone):
                problems.add(name, "must be 7–15 digits, optionally after +")
            cleaned[name] = phone
    return cleaned


def check_new_password(value: object, name: str, problems: Problems) -> str | None:
    problem = password_problem(value)
    if problem is not None:
        problems.add(name, problem)
        return None
    assert isinstance(value, str)
    return value
