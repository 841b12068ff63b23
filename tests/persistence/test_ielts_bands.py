"""IELTS bands and CEFR levels: the conversion tables, the overall-band rounding, the levels."""

from __future__ import annotations

from fractions import Fraction

import pytest

from persistence.ielts import bands

# Every quarter-band mean from 0 to 9 and the overall band IELTS gives it: x.25 rounds up to
# x.5, x.75 up to the next whole band (written out, not computed, so the rule is what is tested).
QUARTER_MEANS = [
    (0.0, 0.0), (0.25, 0.5), (0.5, 0.5), (0.75, 1.0), (1.0, 1.0), (1.25, 1.5), (1.5, 1.5), (1.75, 2.0),
    (2.0, 2.0), (2.25, 2.5), (2.5, 2.5), (2.75, 3.0), (3.0, 3.0), (3.25, 3.5), (3.5, 3.5), (3.75, 4.0),
    (4.0, 4.0), (4.25, 4.5), (4.5, 4.5), (4.75, 5.0), (5.0, 5.0), (5.25, 5.5), (5.5, 5.5), (5.75, 6.0),
    (6.0, 6.0), (6.25, 6.5), (6.5, 6.5), (6.75, 7.0), (7.0, 7.0), (7.25, 7.5), (7.5, 7.5), (7.75, 8.0),
    (8.0, 8.0), (8.25, 8.5), (8.5, 8.5), (8.75, 9.0), (9.0, 9.0),
]
# The eighths between them (a mean of four half-bands is always a multiple of 1/8): x.125 and
# x.375 go to the nearer half (x.0, x.5), x.625 to x.5 and x.875 to x+1.
EIGHTH_MEANS = [(whole + 0.125, whole + 0.0) for whole in range(9)] + \
    [(whole + 0.375, whole + 0.5) for whole in range(9)] + \
    [(whole + 0.625, whole + 0.5) for whole in range(9)] + \
    [(whole + 0.875, whole + 1.0) for whole in range(9)]


def test_every_quarter_band_mean_from_0_to_9_is_in_the_table() -> None:
    assert [mean for mean, _ in QUARTER_MEANS] == [q / 4 for q in range(37)]


@pytest.mark.parametrize(("mean", "overall"), QUARTER_MEANS)
def test_quarter_band_means_round_to_the_published_half_band(mean: float, overall: float) -> None:
    assert bands.round_band(mean) == overall
    assert bands.round_band(Fraction(mean)) == overall


@pytest.mark.parametrize(("mean", "overall"), EIGHTH_MEANS)
def test_eighth_band_means_round_to_the_nearer_half_band(mean: float, overall: float) -> None:
    assert bands.round_band(mean) == overall


def test_the_examples_of_the_rule() -> None:
    assert bands.round_band(6.25) == 6.5
    assert bands.round_band(6.125) == 6.0
    assert bands.round_band(6.75) == 7.0


def test_overall_of_every_sum_of_four_half_bands() -> None:
    """Every total four half-bands can make (0 to 36 in half steps), each as a spread-out set
    of four bands: the overall is a half band within a quarter of the mean, a quarter rounding up."""
    for halves in range(73):
        four = [min(18, max(0, halves - 18 * i)) / 2 for i in range(4)]
        assert sum(four) * 2 == halves
        overall = bands.overall_band(four)
        mean = Fraction(halves, 8)
        assert overall is not None and overall * 2 == int(overall * 2)
        assert -Fraction(1, 4) < Fraction(overall) - mean <= Fraction(1, 4)
    assert bands.overall_band([6.5, 6.5, 5.0, 7.0]) == 6.5  # 6.25
    assert bands.overall_band([4.0, 3.5, 4.0, 4.0]) == 4.0  # 3.875
    assert bands.overall_band([9.0, 8.5, 9.0, 8.5]) == 9.0  # 8.75


def test_overall_waits_for_all_four_bands() -> None:
    assert bands.overall_band([7.0, 7.0, None, 7.0]) is None
    assert bands.overall_band([7.0, 7.0, 7.0]) is None


@pytest.mark.parametrize(("table", "correct", "band"), [
    ("listening", 40, 9.0), ("listening", 39, 9.0), ("listening", 38, 8.5), ("listening", 35, 8.0),
    ("listening", 32, 7.5), ("listening", 30, 7.0), ("listening", 26, 6.5), ("listening", 23, 6.0),
    ("listening", 18, 5.5), ("listening", 16, 5.0), ("listening", 13, 4.5), ("listening", 10, 4.0),
    ("listening", 0, 0.0),
    ("reading_academic", 39, 9.0), ("reading_academic", 33, 7.5), ("reading_academic", 32, 7.0),
    ("reading_academic", 27, 6.5), ("reading_academic", 23, 6.0), ("reading_academic", 19, 5.5),
    ("reading_academic", 15, 5.0), ("reading_academic", 13, 4.5), ("reading_academic", 10, 4.0),
    ("reading_general", 40, 9.0), ("reading_general", 39, 8.5), ("reading_general", 37, 8.0),
    ("reading_general", 36, 7.5), ("reading_general", 34, 7.0), ("reading_general", 32, 6.5),
    ("reading_general", 30, 6.0), ("reading_general", 27, 5.5), ("reading_general", 23, 5.0),
    ("reading_general", 19, 4.5), ("reading_general", 15, 4.0),
])
def test_published_conversion_rows(table: str, correct: int, band: float) -> None:
    assert bands.raw_to_band(table, correct) == band


@pytest.mark.parametrize("table", bands.TABLES)
def test_tables_cover_0_to_40_and_never_fall_as_the_score_rises(table: str) -> None:
    by_score = [bands.raw_to_band(table, correct) for correct in range(41)]
    assert by_score[0] == 0.0 and by_score[40] == 9.0
    assert by_score == sorted(by_score)
    assert all(bands.is_band(band) for band in by_score)


def test_a_section_of_other_length_is_scaled_to_40() -> None:
    assert bands.scaled_to_40(15, 20) == 30
    assert bands.raw_to_band("listening", 15, 20) == 7.0
    assert bands.scaled_to_40(1, 3) == 13  # 13.33
    assert bands.scaled_to_40(7, 16) == 18  # 17.5 rounds up
    assert bands.scaled_to_40(5, 5) == 40
    assert bands.scaled_to_40(0, 0) == 0


def test_is_band_takes_half_steps_from_0_to_9_only() -> None:
    assert all(bands.is_band(h / 2) for h in range(19))
    assert not any(bands.is_band(v) for v in (-0.5, 9.5, 6.25, True, "6", float("nan")))


@pytest.mark.parametrize(("band", "level"), [
    (9.0, "C2"), (8.5, "C2"), (8.0, "C1"), (7.0, "C1"), (6.5, "B2"), (5.5, "B2"), (5.0, "B1"), (4.0, "B1"),
    (3.5, "A2"), (3.0, "A2"), (2.5, "A1"), (0.0, "A1"), (None, None),
])
def test_cefr_of_band(band: float | None, level: str | None) -> None:
    assert bands.cefr_of_band(band) == level


def test_cefr_of_skill_percentages() -> None:
    assert bands.cefr_of_skills([90, 90, 90, 90]) == "C2"
    assert bands.cefr_of_skills([80, 70, 75, 75]) == "C1"
    assert bands.cefr_of_skills([60, 59, 61, 60]) == "B2"
    assert bands.cefr_of_skills([10, 20, 0, 0]) == "A1"
    assert bands.cefr_of_skills([100, 100, None, 100]) is None


def test_the_data_files_cite_their_sources() -> None:
    assert "ielts.org" in bands._data("bands.json")["source"]
    assert "ielts.org" in bands._data("cefr.json")["source"]
