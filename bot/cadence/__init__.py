"""Scan cadence: declared targets, missed scan windows, ``scan.missed`` events."""

from bot.cadence.rules import Gap, declared_targets, find_gaps, never_scanned

__all__ = ["Gap", "declared_targets", "find_gaps", "never_scanned"]
