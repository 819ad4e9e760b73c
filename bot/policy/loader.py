"""Load a policy TOML file onto a built-in preset and validate it.

Every problem becomes one line of a :class:`PolicyError` naming the file, the TOML line and
the dotted key, e.g. ``policy.toml line 7: remediation_days.critical: must be a positive
integer (or false for no ticket), got "thirty"``. tomllib reports no key positions, so the
line of a key is found by scanning the text (table headers, ``[[arrays]]``, dotted keys and
one-line inline tables).
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from bot.policy.models import Policy, show_value

DEFAULT_PRESET = "nist-800-40r4"
PRESETS: tuple[str, ...] = ("cisa-bod-26-04", "fedramp-rev5", "nist-800-40r4", "pci-dss-4")


class PolicyError(ValueError):
    """An invalid policy. ``problems`` holds one message per problem; str() joins them."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("\n".join(self.problems))


# --- locating keys in the TOML text -----------------------------------------------------------

_KEY = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_AOT_RE = re.compile(rf"^\s*\[\[\s*({_DOTTED})\s*\]\]")
_TABLE_RE = re.compile(rf"^\s*\[\s*({_DOTTED})\s*\]")
_KV_RE = re.compile(rf"^\s*({_DOTTED})\s*=")
_INLINE_KV_RE = re.compile(rf"[{{,]\s*({_DOTTED})\s*=")
_PART_RE = re.compile(_KEY)
_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'')

Path_ = tuple[str, ...]


def _parts(dotted: str) -> Path_:
    out = []
    for raw in _PART_RE.findall(dotted):
        out.append(raw[1:-1] if raw[:1] in "\"'" else raw)
    return tuple(out)


def key_lines(text: str) -> dict[Path_, int]:
    """Map each key path (array-of-table elements indexed: ``("assignees", "0", "email")``) to
    the 1-based line where it is defined or its table starts."""
    lines: dict[Path_, int] = {}
    table: Path_ = ()
    aot_index: dict[Path_, int] = {}
    multiline: str | None = None
    depth = 0

    def resolve(path: Path_) -> Path_:
        out: Path_ = ()
        for part in path:
            out = (*out, part)
            if out in aot_index:
                out = (*out, str(aot_index[out]))
        return out

    for number, line in enumerate(text.splitlines(), start=1):
        if multiline is not None:
            if multiline in line:
                multiline = None
            continue
        if depth > 0:
            depth += _bracket_balance(line)
            continue
        if m := _AOT_RE.match(line):
            base = resolve(_parts(m.group(1))[:-1]) + _parts(m.group(1))[-1:]
            aot_index[base] = aot_index.get(base, -1) + 1
            lines.setdefault(base, number)
            table = (*base, str(aot_index[base]))
            lines[table] = number
            continue
        if m := _TABLE_RE.match(line):
            table = resolve(_parts(m.group(1)))
            lines.setdefault(table, number)
            continue
        if m := _KV_RE.match(line):
            path = (*table, *_parts(m.group(1)))
            lines.setdefault(path, number)
            value = line[m.end() :]
            for inner in _INLINE_KV_RE.finditer(_STRING_RE.sub('""', value)):
                lines.setdefault((*path, *_parts(inner.group(1))), number)
            for quote in ('"""', "'''"):
                if value.count(quote) % 2 == 1:
                    multiline = quote
            if multiline is None:
                depth = max(_bracket_balance(value), 0)
    return lines


def _bracket_balance(text: str) -> int:
    code = _STRING_RE.sub('""', text).split("#", 1)[0]
    return code.count("[") + code.count("{") - code.count("]") - code.count("}")


def _line_of(lines: Mapping[Path_, int], loc: Sequence[str | int]) -> int | None:
    path = tuple(str(p) for p in loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return None


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _where(source: str, line: int | None) -> str:
    return f"{source} line {line}" if line is not None else source


# --- presets and merging ------------------------------------------------------------------------


@cache
def _preset_text(name: str) -> str:
    return (
        resources.files("bot.policy")
        .joinpath("presets")
        .joinpath(f"{name}.toml")
        .read_text("utf-8")
    )


def _preset_data(name: str) -> dict[str, Any]:
    return tomllib.loads(_preset_text(name))


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


# --- validation errors --------------------------------------------------------------------------


def _fields_at(loc: Sequence[str | int]) -> list[str]:
    model: type[BaseModel] = Policy
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        candidates = [annotation, *args]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            return []
        model = nested[0]
    return list(model.model_fields)


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    loc = error["loc"]
    if kind == "extra_forbidden":
        known = _fields_at(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        return f"unknown key{hint}"
    if kind == "missing":
        return "required key is missing"
    msg = str(error["msg"])
    if kind in {"int_range", "nonempty_str", "email", "cron"}:
        return msg
    if msg.startswith("Input should be "):
        msg = "must be " + msg.removeprefix("Input should be ")
    return f"{msg}, got {show_value(error.get('input'))}"


def _validation_problems(exc: ValidationError, source: str, text: str | None) -> list[str]:
    lines = key_lines(text) if text is not None else {}
    found: list[tuple[int, str]] = []
    for error in exc.errors():
        loc = [p for p in error["loc"] if p != "[key]"]
        line = _line_of(lines, loc)
        message = f"{_where(source, line)}: {_dotted(loc)}: {_message(error)}"
        found.append((line if line is not None else 1 << 30, message))
    return [message for _, message in sorted(found, key=lambda item: item[0])]


# --- public API ---------------------------------------------------------------------------------


def _validate(data: Mapping[str, Any], source: str, text: str | None) -> Policy:
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(_validation_problems(exc, source, text)) from None


def load_preset(name: str) -> Policy:
    """A built-in preset by name."""
    if name not in PRESETS:
        raise PolicyError([f'unknown preset "{name}"; available: {", ".join(PRESETS)}'])
    return _validate({**_preset_data(name), "preset": name}, f"preset {name}", _preset_text(name))


def load_policy_text(
    text: str, source_name: str = "<policy>", *, preset: str | None = None
) -> Policy:
    """Parse and validate policy TOML text; ``source_name`` names it in error messages.

    The file's ``preset`` key (else ``preset``, else ``nist-800-40r4``) is the base the file's
    keys override. A file and an argument naming different presets is an error.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = int(m.group(1)) if m else None
        raise PolicyError([f"{_where(source_name, line)}: invalid TOML: {exc}"]) from None
    lines = key_lines(text)
    chosen = data.get("preset", preset or DEFAULT_PRESET)
    if "preset" in data:
        where = _where(source_name, _line_of(lines, ["preset"]))
        if not isinstance(chosen, str):
            raise PolicyError([f"{where}: preset: must be a string, got {show_value(chosen)}"])
        if preset is not None and chosen != preset:
            raise PolicyError(
                [f'{where}: preset: the file says "{chosen}" but "{preset}" was requested']
            )
    if chosen not in PRESETS:
        where = _where(source_name, _line_of(lines, ["preset"]) if "preset" in data else None)
        raise PolicyError(
            [f'{where}: preset: unknown preset "{chosen}"; available: {", ".join(PRESETS)}']
        )
    merged = _merge(_preset_data(chosen), data)
    merged["preset"] = chosen
    return _validate(merged, source_name, text)


def load_policy(path: Path | None, *, preset: str | None = None) -> Policy:
    """Load the policy file at ``path``; ``None`` = the built-in preset (default
    ``nist-800-40r4``)."""
    if path is None:
        return load_preset(preset or DEFAULT_PRESET)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PolicyError([f"{path}: cannot read the policy file: {reason}"]) from None
    return load_policy_text(text, str(path), preset=preset)


def default_policy() -> Policy:
    """The built-in default policy (``nist-800-40r4``)."""
    return load_preset(DEFAULT_PRESET)
