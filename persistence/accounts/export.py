"""`GET /api/me/export` (000 §8, 003 §10): everything stored about the user, in one document.

Profile, tokens and sessions (when made and until when; never the secrets, which are not
stored), the audit entries about the user, the games they hosted with their results, the
games they played, and every section other areas register (`hooks.export_sections`: attempts,
wallet transactions). Sections with nothing stored are present and empty, so a reader sees
what was looked at.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from persistence.accounts import audit, hooks
from persistence.accounts.models import AuthToken, User
from persistence.accounts.service import profile
from persistence.db import Database
from persistence.results import store
from persistence.types import iso, utcnow

#: Sections every export has even before the areas that fill them exist.
EXPECTED_SECTIONS = ("attempts", "wallet_transactions")
PAGE = 100


async def export(db: Database, user_id: int) -> dict[str, Any]:
    async with db.session() as session:
        user = await session.get(User, user_id)
        if user is None:
            return {}
        credentials = (await session.exec(
            select(AuthToken).where(col(AuthToken.user_id) == user_id).order_by(col(AuthToken.id))
        )).all()
        entries: list[dict[str, Any]] = []
        before: int | None = None
        while page := await audit.entries(session, limit=PAGE, before_id=before, user_id=user_id):
            entries.extend(entry.public() for entry in page)
            before = page[-1].id
        sections: dict[str, list[dict[str, Any]]] = {name: [] for name in EXPECTED_SECTIONS}
        for name, section in hooks.export_sections.items():
            sections[name] = await section(session, user_id)
    return {
        "exported_at": iso(utcnow()),
        "profile": profile(user) | {"referred_by": user.referred_by, "google_sub": user.google_sub},
        "tokens": [
            {"kind": t.kind, "created_at": iso(t.created_at), "expires_at": iso(t.expires_at),
             "revoked_at": iso(t.revoked_at)}
            for t in credentials
        ],
        "audit": entries,
        "games_hosted": await _hosted(db, user_id),
        "results": await _played(db, user_id),
        **sections,
    }


async def _hosted(db: Database, user_id: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    before: int | None = None
    while games := await store.hosted_by(db, user_id, limit=PAGE, before_id=before):
        for game, lines in games:
            out.append({"pin": game.pin, "title": game.title, "exam_id": game.exam_id,
                        "finished_at": iso(game.finished_at), "players": game.player_count,
                        "results": [line.public() for line in lines]})
        before = games[-1][0].id
    return out


async def _played(db: Database, user_id: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    before: int | None = None
    while played := await store.played_by(db, user_id, limit=PAGE, before_id=before):
        out.extend({"pin": p.pin, "title": p.title, "date": iso(p.finished_at), "rank": p.rank, "score": p.score,
                    "answers": p.answers, "correct": p.correct, "players": p.players} for p in played)
        before = played[-1].id
    return out
