"""A tiny JQL subset for the fake Jira: ``clause (AND clause)* [ORDER BY field [ASC|DESC], ...]``.

Clauses: ``project = X``, ``key = X``, ``status = X``, ``labels = X``, ``labels in (X, Y)`` and
``updated >=|>|<=|< "yyyy/MM/dd[ HH:mm]"`` (read in the API user's time zone, like Jira). Values
are bare words or double-quoted strings with backslash escapes. Anything else is a
:class:`JqlError` (the fake answers 400, as Jira does for bad JQL).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

__all__ = ["JqlError", "Query", "parse_jql"]

_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>>=|<=|!=|=|>|<|\(|\)|,)|(?P<word>[^\s=<>!(),"]+))'
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}


class JqlError(ValueError):
    pass


@dataclass
class Query:
    predicates: list[Callable[[dict[str, Any]], bool]]
    order: list[tuple[str, bool]]  # (field, descending)

    def matches(self, issue: dict[str, Any]) -> bool:
        return all(p(issue) for p in self.predicates)


def _tokens(jql: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    jql = jql.rstrip()
    while pos < len(jql):
        m = _TOKEN.match(jql, pos)
        if not m or m.end() == pos:
            raise JqlError(f"Error in the JQL Query: unexpected character at {pos}")
        pos = m.end()
        if m.group("str") is not None:
            raw = m.group("str")[1:-1]
            value = re.sub(r"\\(.)", lambda e: _ESCAPES.get(e.group(1), e.group(1)), raw)
            out.append(("value", value))
        elif m.group("op") is not None:
            out.append(("op", m.group("op")))
        else:
            out.append(("word", m.group("word")))
    return out


def _parse_date(text: str, tz: tzinfo) -> datetime:
    for fmt in ("%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=tz)
        except ValueError:
            continue
    raise JqlError(f"Date value '{text}' for field 'updated' is invalid.")


def parse_jql(jql: str, *, tz: tzinfo) -> Query:
    toks = _tokens(jql)
    preds: list[Callable[[dict[str, Any]], bool]] = []
    order: list[tuple[str, bool]] = []
    i = 0

    def take(kind: str | None = None) -> str:
        nonlocal i
        if i >= len(toks):
            raise JqlError("Error in the JQL Query: the query ended early")
        k, v = toks[i]
        if kind == "value" and k not in ("value", "word"):
            raise JqlError(f"Error in the JQL Query: expected a value, got {v!r}")
        i += 1
        return v

    while i < len(toks):
        field = take().lower()
        if field == "order":
            if take().lower() != "by":
                raise JqlError("Error in the JQL Query: expected BY")
            while i < len(toks):
                name = take().lower()
                desc = False
                if i < len(toks) and toks[i][1].lower() in ("asc", "desc"):
                    desc = take().lower() == "desc"
                order.append((name, desc))
                if i < len(toks) and toks[i] == ("op", ","):
                    i += 1
            break
        op = take().lower()
        if field == "labels" and op == "in":
            if take() != "(":
                raise JqlError("Error in the JQL Query: expected (")
            values = []
            while True:
                values.append(take("value"))
                sep = take()
                if sep == ")":
                    break
            preds.append(lambda iss, vs=tuple(values): bool(set(vs) & set(iss["labels"])))
        elif field in ("project", "key", "status", "labels") and op == "=":
            value = take("value")
            if field == "labels":
                preds.append(lambda iss, v=value: v in iss["labels"])
            elif field == "project":
                preds.append(lambda iss, v=value: iss["project"] == v)
            elif field == "key":
                preds.append(lambda iss, v=value: v in (iss["key"], iss["id"]))
            else:
                preds.append(lambda iss, v=value: iss["status"].lower() == v.lower())
        elif field == "updated" and op in (">=", ">", "<=", "<"):
            when = _parse_date(take("value"), tz)
            ops: dict[str, Callable[[datetime, datetime], bool]] = {
                ">=": lambda a, b: a >= b,
                ">": lambda a, b: a > b,
                "<=": lambda a, b: a <= b,
                "<": lambda a, b: a < b,
            }
            preds.append(lambda iss, f=ops[op], w=when: f(iss["updated"], w))
        else:
            raise JqlError(f"Error in the JQL Query: the fake does not support {field!r} {op!r}")
        if i < len(toks):
            if toks[i][1].lower() == "and":
                i += 1
            elif toks[i][1].lower() != "order":
                raise JqlError(f"Error in the JQL Query: expected AND, got {toks[i][1]!r}")
    return Query(preds, order)
