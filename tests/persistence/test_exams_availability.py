"""The 000 §10 table, cell by cell: every exam row × every platform × the creator's settings,
written out as PLATFORM.md prints it ("setting" = the creator's show_in_bot / show_in_mobile)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import pytest

from persistence.exams.availability import availability, availability_map, closed_reason

# exam row → (web, bot, mobile, group), transcribed from PLATFORM.md "Where an exam may be taken".
TABLE = {
    "free, no proctoring": ("yes", "setting", "setting", "yes"),
    "proctoring on": ("yes", "no", "setting", "no"),
    "paid": ("yes", "setting", "setting", "no"),
    "paid and proctoring": ("yes", "no", "setting", "no"),
}
ROWS = {  # row → (price, fullscreen, camera) variants that make it
    "free, no proctoring": [(0, False, False)],
    "proctoring on": [(0, True, False), (0, False, True), (0, True, True)],
    "paid": [(15_000, False, False)],
    "paid and proctoring": [(15_000, True, False), (15_000, False, True), (15_000, True, True)],
}
PLATFORMS = ("web", "bot", "mobile", "group")


@dataclass(frozen=True)
class Rules:
    active: bool = True
    price: int = 0
    proctor_fullscreen: bool = False
    proctor_camera: bool = False
    show_in_bot: bool = False
    show_in_mobile: bool = False


def cells() -> list[pytest.param]:  # type: ignore[valid-type]
    out = []
    for row, variants in ROWS.items():
        for (price, fullscreen, camera), in_bot, in_mobile in product(variants, (False, True), (False, True)):
            for platform, cell in zip(PLATFORMS, TABLE[row], strict=True):
                setting = in_bot if platform == "bot" else in_mobile
                expected = {"yes": True, "no": False, "setting": setting}[cell]
                rules = Rules(True, price, fullscreen, camera, in_bot, in_mobile)
                name = f"{row}|fs={fullscreen},cam={camera}|bot={in_bot},mobile={in_mobile}|{platform}"
                out.append(pytest.param(rules, platform, expected, id=name))
    return out


@pytest.mark.parametrize(("rules", "platform", "expected"), cells())
def test_table_cell(rules: Rules, platform: str, expected: bool) -> None:
    assert availability(rules, platform) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize(
    ("price", "fullscreen", "camera", "in_bot", "in_mobile"),
    [(0, False, False, True, True), (500, True, True, True, True), (0, False, True, False, False)],
)
def test_an_inactive_exam_is_available_nowhere(
    platform: str, price: int, fullscreen: bool, camera: bool, in_bot: bool, in_mobile: bool
) -> None:
    rules = Rules(False, price, fullscreen, camera, in_bot, in_mobile)
    assert availability(rules, platform) is False  # type: ignore[arg-type]
    assert closed_reason(rules, platform) == "exam_inactive"  # type: ignore[arg-type]


def test_group_refusals_name_their_reason() -> None:
    assert closed_reason(Rules(price=1), "group") == "exam_paid"
    assert closed_reason(Rules(proctor_camera=True), "group") == "exam_proctored"
    assert closed_reason(Rules(proctor_fullscreen=True), "group") == "exam_proctored"
    assert closed_reason(Rules(), "group") is None
    assert closed_reason(Rules(proctor_fullscreen=True, show_in_bot=True), "bot") == "platform_closed"


def test_the_map_answers_every_platform() -> None:
    assert availability_map(Rules(show_in_mobile=True)) == {"web": True, "bot": False, "mobile": True, "group": True}


def test_an_unknown_platform_is_an_error_not_a_yes() -> None:
    with pytest.raises(ValueError):
        closed_reason(Rules(), "fax")  # type: ignore[arg-type]
