"""OpenAPI descriptions of the accounts endpoints (PLATFORM.md "Accounts"), the admin audit
log and role changes, and the signed-in user's kept games and results. The handlers build
plain dicts; these models only describe them (the schemathesis test checks that they agree)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gameserver.openapi import Operation, register_operation


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Profile(_Open):
    id: int
    username: str
    first_name: str
    last_name: str | None
    email: str | None
    phone: str | None = Field(description="`+` and 7–15 digits")
    telegram_id: int | None
    role: Literal["user", "admin"]
    created_at: str = Field(description="ISO 8601 UTC")


class RegisterIn(_Open):
    username: str = Field(description="3–32 of a-z, 0-9 and _")
    password: str = Field(description="at least 8 characters, with a letter and a digit")
    first_name: str
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    referral: str | None = Field(None, description="the username of the user who invited this one")


class Registered(_Open):
    user: Profile
    token: str = Field(description="an API token, valid 30 days")
    expires_at: str


class LoginIn(_Open):
    login: str = Field(description="username, email or phone")
    password: str


class LoggedIn(_Open):
    token: str = Field(description="an API token (30 days); browsers use the session cookie instead")
    expires_at: str
    csrf: str = Field(description="send as X-CSRF-Token on cookie-authenticated writes")
    session_expires_at: str = Field(description="the session cookie's end (12 hours)")
    user: Profile


class ResetIn(_Open):
    login: str


class Accepted(_Open):
    status: Literal["accepted"]


class ProfilePatch(_Open):
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None


class PasswordChange(_Open):
    old: str
    new: str


class PasswordConfirm(_Open):
    password: str


class LinkCode(_Open):
    code: str = Field(description="send `/link CODE` to the bot within 10 minutes")
    expires_at: str


class Export(_Open):
    exported_at: str
    profile: dict[str, Any]
    tokens: list[dict[str, Any]]
    audit: list[dict[str, Any]]
    games_hosted: list[dict[str, Any]]
    results: list[dict[str, Any]]
    attempts: list[dict[str, Any]]
    wallet_transactions: list[dict[str, Any]]


class AuditEntry(_Open):
    id: int
    at: str
    action: str
    actor_id: int | None
    target_user_id: int | None
    ip: str | None
    details: dict[str, Any]


class AuditPage(_Open):
    items: list[AuditEntry]
    next_cursor: str | None


class RoleIn(_Open):
    role: Literal["user", "admin"]


class Providers(_Open):
    google: bool = Field(description="`GET /auth/google` signs in with Google")


class ResultLine(_Open):
    rank: int
    name: str
    score: int
    answers: int
    correct: int


class HostedGame(_Open):
    id: int
    pin: str
    title: str
    exam_id: int | None
    finished_at: str
    players: int
    question_count: int
    results: list[ResultLine]


class HostedPage(_Open):
    items: list[HostedGame]
    next_cursor: str | None


class PlayedGame(_Open):
    pin: str
    title: str
    exam_id: int | None
    finished_at: str
    date: str
    rank: int
    score: int
    answers: int
    correct: int
    players: int


class PlayedPage(_Open):
    items: list[PlayedGame]
    next_cursor: str | None


_AUTH_TAGS, _ME, _ADMIN = ("auth",), ("me",), ("admin",)
_LIMITED = {429: ["rate_limited"]}
_SIGNED_IN = {401: ["unauthorized"], 429: ["rate_limited"]}
_WRITE = {**_SIGNED_IN, 403: ["csrf"], 413: ["too_large"], 422: ["invalid"]}
_AUTH: dict[str, Any] = {"security": [{"apiToken": []}]}
_JSON_BODY_ONLY = {413: ["too_large"], 415: ["unsupported_media_type"], 422: ["invalid"]}
_NO_BODY = {"requestBody": {"required": False, "content": {"application/json": {"schema": {"type": "object"}}}}}
_PAGING = [{"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1,
                                                                         "maximum": 100}},
           {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string", "pattern": "^[0-9]+$"}}]
_TAKEN = ["username_taken", "email_taken", "phone_taken"]

OPERATIONS = [
    Operation("POST", "/api/auth/register", "register", "Create an account", responses={201: Registered},
              request=RegisterIn, tags=_AUTH_TAGS, errors={**_LIMITED, **_JSON_BODY_ONLY, 409: _TAKEN},
              description="The welcome bonus is credited once; `referral` names the inviting user (who gets the "
              "referral bonus once). `422 invalid` lists every bad field in `details`. 5 a minute per address."),
    Operation("POST", "/api/auth/login", "login", "Sign in", responses={200: LoggedIn}, request=LoginIn,
              tags=_AUTH_TAGS, errors={**_LIMITED, **_JSON_BODY_ONLY, 401: ["bad_credentials"]},
              description="Answers an API token and sets the browser session cookie `lq_session` (12 h, HttpOnly, "
              "SameSite=Lax) with its CSRF token. An unknown login and a wrong password answer alike. "
              "5 a minute per address."),
    Operation("POST", "/api/auth/logout", "logout", "Sign out", responses={204: None}, tags=_AUTH_TAGS,
              errors={**_SIGNED_IN, 403: ["csrf"]}, extra=_AUTH | _NO_BODY,
              description="The token or session it is called with stops working at once."),
    Operation("POST", "/api/auth/reset", "resetPassword", "Send a new password", responses={202: Accepted},
              request=ResetIn, tags=_AUTH_TAGS, errors={**_LIMITED, **_JSON_BODY_ONLY},
              description="202 whatever the login. A new random password goes to the linked Telegram account, "
              "else to the email; once it was sent, the old password and every session end."),
    Operation("GET", "/api/auth/providers", "authProviders", "Outside sign-in offered here",
              responses={200: Providers}, tags=_AUTH_TAGS, errors=_LIMITED),
    Operation("GET", "/api/me", "me", "The caller's profile", responses={200: Profile}, tags=_ME,
              errors=_SIGNED_IN, extra=_AUTH),
    Operation("PATCH", "/api/me", "editMe", "Edit the profile", responses={200: Profile}, request=ProfilePatch,
              tags=_ME, errors={**_WRITE, 404: ["not_found"], 409: _TAKEN}, extra=_AUTH,
              description="Same checks as register; `null` clears an optional field."),
    Operation("DELETE", "/api/me", "deleteMe", "Delete the account", responses={204: None}, request=PasswordConfirm,
              tags=_ME, errors={**_WRITE, 403: ["csrf", "wrong_password"], 404: ["not_found"]}, extra=_AUTH,
              description="Personal data removed irreversibly; results stay as \"deleted user\"; balances are "
              "forfeited; every token ends."),
    Operation("POST", "/api/me/password", "changePassword", "Change the password", responses={204: None},
              request=PasswordChange, tags=_ME, errors={**_WRITE, 403: ["csrf", "wrong_password"],
                                                        404: ["not_found"]}, extra=_AUTH,
              description="Every other token and session of the user ends."),
    Operation("POST", "/api/me/telegram", "telegramCode", "A code to link Telegram", responses={200: LinkCode},
              tags=_ME, errors={**_SIGNED_IN, 403: ["csrf"]}, extra=_AUTH | _NO_BODY),
    Operation("DELETE", "/api/me/telegram", "telegramUnlink", "Unlink Telegram", responses={204: None}, tags=_ME,
              errors={**_SIGNED_IN, 403: ["csrf"]}, extra=_AUTH),
    Operation("GET", "/api/me/export", "exportMe", "Everything stored about the caller", responses={200: Export},
              tags=_ME, errors=_SIGNED_IN, extra=_AUTH),
    Operation("GET", "/api/me/games", "myGames", "Games the caller hosted", responses={200: HostedPage}, tags=_ME,
              errors={**_SIGNED_IN, 422: ["invalid"]}, extra=_AUTH | {"parameters": _PAGING}),
    Operation("GET", "/api/me/results", "myResults", "Games the caller played signed in",
              responses={200: PlayedPage}, tags=_ME, errors={**_SIGNED_IN, 422: ["invalid"]},
              extra=_AUTH | {"parameters": _PAGING}),
    Operation("GET", "/api/admin/audit", "auditLog", "The audit log (admins)", responses={200: AuditPage},
              tags=_ADMIN, errors={**_SIGNED_IN, 403: ["forbidden"], 422: ["invalid"]},
              extra=_AUTH | {"parameters": [*_PAGING,
                                            {"name": "user", "in": "query", "required": False,
                                             "schema": {"type": "string", "pattern": "^[0-9]+$"}},
                                            {"name": "action", "in": "query", "required": False,
                                             "schema": {"type": "string", "maxLength": 64}}]},
              description="Newest first; `user` keeps entries where that user acted or was acted on. Entries are "
              "never edited."),
    Operation("POST", "/api/admin/users/{user_id}/role", "setRole", "Change a user's role (admins)",
              responses={200: Profile}, request=RoleIn, tags=_ADMIN, parameters={"user_id": {"type": "string"}},
              errors={**_WRITE, 403: ["forbidden", "csrf"], 404: ["not_found"]}, extra=_AUTH,
              description="Not one's own role."),
]


def describe() -> None:
    for operation in OPERATIONS:
        register_operation(operation)
