"""Comparing a stored snapshot with one rebuilt from the log (pure)."""

from __future__ import annotations

from typing import Any

IGNORED_PATHS = frozenset({"metadata.generated_at"})
MAX_DIFFERENCES = 200


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def differences(stored: Any, rebuilt: Any, *, limit: int = MAX_DIFFERENCES) -> list[dict[str, Any]]:
    """Every place where the two documents differ (up to ``limit``), by dotted path; list items
    are addressed by index (``figures.overdue[3].due_date``)."""
    out: list[dict[str, Any]] = []

    def walk(a: Any, b: Any, path: str) -> None:
        if len(out) >= limit or path in IGNORED_PATHS:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b), key=str):
                if key not in a or key not in b:
                    out.append(
                        {
                            "path": _join(path, key),
                            "stored": a.get(key, "<absent>"),
                            "rebuilt": b.get(key, "<absent>"),
                        }
                    )
                else:
                    walk(a[key], b[key], _join(path, key))
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                out.append({"path": f"{path}.length", "stored": len(a), "rebuilt": len(b)})
            for i, (x, y) in enumerate(zip(a, b, strict=False)):
                walk(x, y, f"{path}[{i}]")
        elif a != b or type(a) is not type(b):
            out.append({"path": path, "stored": a, "rebuilt": b})

    walk(stored, rebuilt, "")
    return out


def csv_differences(stored: str, rebuilt: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """Line-level differences of two CSV texts (same order: tickets by id)."""
    a, b = stored.splitlines(), rebuilt.splitlines()
    out: list[dict[str, Any]] = []
    if len(a) != len(b):
        out.append({"line": "count", "stored": len(a), "rebuilt": len(b)})
    for i, (x, y) in enumerate(zip(a, b, strict=False), start=1):
        if x != y:
            out.append({"line": i, "stored": x, "rebuilt": y})
            if len(out) >= limit:
                break
    return out
