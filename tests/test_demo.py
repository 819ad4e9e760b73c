"""`slabot demo` runs the whole flow on the embedded defaults and ends with a verified log."""

from __future__ import annotations

from pathlib import Path

from bot.demo.tour import run_tour


def test_demo_tour_runs_end_to_end(tmp_path: Path) -> None:
    lines: list[str] = []
    assert run_tour(tmp_path / "demo", lines.append) == 0
    text = "\n".join(lines)
    assert "'escalated_kev': 2, 'tickets_opened': 4" in text
    assert "0 new, 6 duplicate, 0 tickets opened" in text
    assert "matches the stored snapshot" in text
    assert "event log: OK" in text
    assert (tmp_path / "demo" / "evidence-2026-W10" / "events-2026-W10.csv").is_file()
