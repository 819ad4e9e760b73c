from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pytest

from bot.policy import SsvcInputs, bod_26_04_days, bod_26_04_outcome
from bot.policy.ssvc import ssvc_outcome

CORPUS_CSV = Path(__file__).resolve().parents[3] / "shared/corpus/ssvc/cisa_bod_26_04_1_0_0.csv"
LABEL_DAYS = {
    "fix on system upgrade": None,
    "60 days": 60,
    "14 days": 14,
    "3 days": 3,
    "3 days & forensic investigation": 3,
}


@pytest.mark.parametrize(
    ("kev", "exposed", "automatable", "impact", "days", "forensic"),
    [
        (False, False, False, "partial", None, False),
        (True, False, False, "partial", 14, False),
        (False, True, False, "partial", 60, False),
        (False, False, True, "partial", 60, False),
        (False, False, False, "total", None, False),
        (True, True, False, "partial", 14, False),
        (True, False, True, "partial", 14, False),
        (False, True, True, "partial", 14, False),
        (True, False, False, "total", 14, False),
        (False, True, False, "total", 14, False),
        (False, False, True, "total", 60, False),
        (True, True, True, "partial", 3, False),
        (True, True, False, "total", 3, True),
        (True, False, True, "total", 3, True),
        (False, True, True, "total", 3, False),
        (True, True, True, "total", 3, True),
    ],
)
def test_all_sixteen_rows(
    kev: bool, exposed: bool, automatable: bool, impact: str, days: int | None, forensic: bool
) -> None:
    outcome = bod_26_04_outcome(
        in_kev=kev, exposed=exposed, automatable=automatable, technical_impact=impact
    )
    assert outcome.days == days
    assert outcome.forensic_triage is forensic
    assert (
        bod_26_04_days(
            in_kev=kev, exposed=exposed, automatable=automatable, technical_impact=impact
        )
        == days
    )


@pytest.mark.skipif(not CORPUS_CSV.exists(), reason="shared corpus not present")
def test_transcription_matches_cisa_csv() -> None:
    with CORPUS_CSV.open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))[1:]
    assert len(rows) == 16
    for _, kev, pe, a, ti, label in rows:
        outcome = bod_26_04_outcome(
            in_kev=kev == "yes", exposed=pe == "yes", automatable=a == "yes", technical_impact=ti
        )
        assert outcome.days == LABEL_DAYS[label]
        assert outcome.forensic_triage == ("forensic" in label)
        assert outcome.label.lower() == label


def test_unknown_inputs_take_the_stricter_outcome() -> None:
    # Unknown automatable behaves as yes, unknown impact as total.
    assert (
        bod_26_04_days(in_kev=False, exposed=False, automatable=None, technical_impact="total")
        == 60
    )
    assert bod_26_04_days(in_kev=False, exposed=True, automatable=None, technical_impact=None) == 3
    kev_internal = bod_26_04_outcome(
        in_kev=True, exposed=False, automatable=None, technical_impact=None
    )
    assert (kev_internal.days, kev_internal.forensic_triage) == (3, True)
    assert ssvc_outcome(SsvcInputs()).key == "3DF"


def test_unknown_never_looser_than_any_completion() -> None:
    options: list[list[bool | None]] = [[True, False, None]] * 3
    for kev, pe, a in itertools.product(*options):
        for ti in ("partial", "total", None):
            got = ssvc_outcome(SsvcInputs(kev, pe, a, ti))
            for k2, p2, a2, t2 in itertools.product(
                [kev] if kev is not None else [True, False],
                [pe] if pe is not None else [True, False],
                [a] if a is not None else [True, False],
                [ti] if ti is not None else ["partial", "total"],
            ):
                other = ssvc_outcome(SsvcInputs(k2, p2, a2, t2))
                assert (other.days or 10**6) >= (got.days or 10**6)


def test_technical_impact_spelling() -> None:
    assert bod_26_04_days(in_kev=True, exposed=True, automatable=True, technical_impact="T") == 3
    assert (
        bod_26_04_days(in_kev=True, exposed=True, automatable=True, technical_impact="Total") == 3
    )
    with pytest.raises(ValueError, match="technical_impact"):
        bod_26_04_days(in_kev=True, exposed=True, automatable=True, technical_impact="huge")
