"""Block Kit primitives: the message type, mrkdwn escaping, block helpers and a text rendering.

Everything that came from a scan or a tracker goes through :func:`escape_mrkdwn` (or
:func:`escape_truncated`) before it reaches a ``mrkdwn`` text object. With ``&``, ``<`` and
``>`` escaped, Slack's control sequences (``<!channel>``, ``<@U…>``, ``<http://x|y>``) cannot
form; ``verbatim: true`` on every mrkdwn object additionally stops Slack from auto-linking bare
URLs, channel names and ``@here``-style words found in that text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlsplit

__all__ = [
    "MAX_SECTION_TEXT",
    "Block",
    "SlackMessage",
    "actions",
    "button",
    "context",
    "divider",
    "escape_mrkdwn",
    "escape_truncated",
    "header",
    "mention",
    "mrkdwn",
    "plain",
    "render_blocks",
    "safe_link",
    "section",
]

Block = dict[str, Any]

MAX_SECTION_TEXT = 3000  # section text object limit
MAX_FIELD_TEXT = 2000  # section field limit
MAX_FALLBACK_TEXT = 3000  # top-level `text`: Slack truncates far later; keep notifications short
MAX_BUTTON_VALUE = 2000
MAX_HEADER_TEXT = 150

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_USER_ID_RE = re.compile(r"^[UW][A-Z0-9]{2,20}$")


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """A message: ``text`` is the notification/fallback text, ``blocks`` the Block Kit layout."""

    text: str
    blocks: list[Block] = field(default_factory=list)


def escape_mrkdwn(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` (Slack's only mrkdwn control characters) in ``text``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_truncated(text: str, limit: int) -> str:
    """Escape ``text`` and cut it to at most ``limit`` characters without splitting an entity.

    A cut text ends with ``…`` (counted in the limit).
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    escaped = escape_mrkdwn(text)
    if len(escaped) <= limit:
        return escaped
    out: list[str] = []
    used = 0
    for ch in text:
        piece = _ESCAPES.get(ch, ch)
        if used + len(piece) > limit - 1:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out) + "…"


def mention(user_id: str) -> str:
    """``<@U…>`` for a Slack user id; anything that is not a user id raises ValueError."""
    if not _USER_ID_RE.match(user_id):
        raise ValueError(f"not a Slack user id: {user_id!r}")
    return f"<@{user_id}>"


def safe_link(url: str | None, label: str) -> str | None:
    """A mrkdwn link ``<url|label>`` for an http(s) URL, or None when the URL is unusable.

    The URL is percent-encoded where it could break out of the link (``<``, ``>``, ``|``,
    whitespace, quotes) and ``&`` is entity-escaped; the label is escaped.
    """
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    # Keep URL syntax characters; percent-encode everything else that could close the link.
    encoded = quote(url.strip(), safe=":/?#[]@!$&'()*+,;=%-._~")
    encoded = encoded.replace("&", "&amp;")
    return f"<{encoded}|{escape_truncated(label, 200)}>"


def mrkdwn(text: str) -> dict[str, Any]:
    """A mrkdwn text object; ``verbatim`` so Slack does not auto-link anything inside it."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def plain(text: str, *, emoji: bool = True) -> dict[str, Any]:
    """A plain_text object. Only for text written by slabot itself (labels, titles)."""
    return {"type": "plain_text", "text": text, "emoji": emoji}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text[:MAX_HEADER_TEXT])}


def section(
    text: str | None = None, *, fields: Sequence[str] = (), block_id: str | None = None
) -> Block:
    """A section; ``text`` and ``fields`` must already be escaped mrkdwn."""
    block: Block = {"type": "section"}
    if text is not None:
        block["text"] = mrkdwn(text[:MAX_SECTION_TEXT])
    if fields:
        block["fields"] = [mrkdwn(f[:MAX_FIELD_TEXT]) for f in fields[:10]]
    if block_id is not None:
        block["block_id"] = block_id
    return block


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(t[:MAX_SECTION_TEXT]) for t in texts[:10]]}


def divider() -> Block:
    return {"type": "divider"}


def button(
    label: str,
    *,
    action_id: str,
    value: str,
    style: Literal["primary", "danger"] | None = None,
) -> dict[str, Any]:
    if len(value) > MAX_BUTTON_VALUE:
        raise ValueError(f"button value is {len(value)} characters; Slack allows 2000")
    element: dict[str, Any] = {
        "type": "button",
        "text": plain(label[:75]),
        "action_id": action_id,
        "value": value,
    }
    if style is not None:
        element["style"] = style
    return element


def actions(*elements: dict[str, Any], block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(elements)}
    if block_id is not None:
        block["block_id"] = block_id
    return block


def _text_of(obj: object) -> str:
    if isinstance(obj, Mapping):
        value = obj.get("text")
        return value if isinstance(value, str) else ""
    return ""


def render_blocks(blocks: Sequence[Mapping[str, Any]]) -> str:
    """A compact, one-line-per-block text rendering (console notifier, logs, test assertions)."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("header", "section"):
            parts = [_text_of(block.get("text"))] if block.get("text") else []
            parts += [_text_of(f) for f in block.get("fields") or []]
            text = " | ".join(p for p in parts if p)
            lines.append(f"# {text}" if kind == "header" else text)
        elif kind == "context":
            lines.append(" · ".join(_text_of(e) for e in block.get("elements") or []))
        elif kind == "actions":
            lines.append(
                " ".join(f"[{_text_of(e.get('text'))}]" for e in block.get("elements") or [])
            )
        elif kind == "divider":
            lines.append("---")
        elif kind == "input":
            lines.append(f"<input {_text_of(block.get('label'))}>")
        else:
            lines.append(f"<{kind}>")
    return "\n".join(line.replace("\n", " ⏎ ") for line in lines)
