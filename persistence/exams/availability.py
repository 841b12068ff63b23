"""Where an exam may be taken: the table of 000 §10, as one pure function.

| exam                | web (solo) | bot (solo) | mobile (solo) | group play |
|---------------------|------------|------------|---------------|------------|
| free, no proctoring | yes        | setting    | setting       | yes        |
| proctoring on       | yes        | no         | setting       | no         |
| paid                | yes        | setting    | setting       | no         |
| paid and proctoring | yes        | no         | setting       | no         |

"setting" is the creator's `show_in_bot` / `show_in_mobile`. An inactive exam is available
nowhere. Every entry point (the HTTP API, the bot, the mobile API, group creation) asks
`closed_reason` or `availability`, so the table lives here only.
"""

from __future__ import annotations

from typing import Literal, Protocol

Platform = Literal["web", "bot", "mobile", "group"]
PLATFORMS: tuple[Platform, ...] = ("web", "bot", "mobile", "group")
SOLO_PLATFORMS = ("web", "bot", "mobile")


class ExamRules(Protocol):
    """The settings the table reads (an `Exam` row has them)."""

    @property
    def active(self) -> bool: ...
    @property
    def price(self) -> int: ...
    @property
    def proctor_fullscreen(self) -> bool: ...
    @property
    def proctor_camera(self) -> bool: ...
    @property
    def show_in_bot(self) -> bool: ...
    @property
    def show_in_mobile(self) -> bool: ...


def closed_reason(exam: ExamRules, platform: Platform) -> str | None:
    """None when `exam` may be taken on `platform`, else the error code that says why not:
    `exam_inactive`, `exam_paid` / `exam_proctored` (group play), `platform_closed` (solo)."""
    if not exam.active:
        return "exam_inactive"
    proctored = exam.proctor_fullscreen or exam.proctor_camera
    if platform == "web":
        return None
    if platform == "group":
        if exam.price > 0:
            return "exam_paid"
        if proctored:
            return "exam_proctored"
        return None
    if platform == "bot":
        # A chat cannot be proctored: the bot is closed to proctored exams whatever the setting.
        return None if exam.show_in_bot and not proctored else "platform_closed"
    if platform == "mobile":
        return None if exam.show_in_mobile else "platform_closed"
    raise ValueError(f"unknown platform {platform!r}")


def availability(exam: ExamRules, platform: Platform) -> bool:
    return closed_reason(exam, platform) is None


def availability_map(exam: ExamRules) -> dict[str, bool]:
    """`GET /api/exams/{id}/availability`: `{web, bot, mobile, group}`."""
    return {platform: availability(exam, platform) for platform in PLATFORMS}
