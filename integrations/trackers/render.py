"""Issue bodies: one neutral outline of a draft, rendered as Jira ADF or as Linear markdown.

Untrusted text (scan output: template description, evidence, references, asset, title) never
becomes markup:

* Jira (REST v3): Atlassian Document Format. Every piece of text is the ``text`` of a ``text``
  node (or of a ``codeBlock``), which Jira renders literally; there is no escaping to get wrong
  and no wiki-markup injection (``{code}``, ``[link|…]``, ``!image!``, ``[~mention]``).
* Linear: markdown. Every ASCII punctuation character of untrusted text is backslash-escaped
  (CommonMark allows that for all of them), and evidence goes in a fenced code block whose fence
  is longer than any backtick run inside it.

Bodies are cut to fit the remote limit (:func:`fit`): section caps shrink until the rendered body
is below it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from .base import IssueDraft, sla_line

__all__ = [
    "JIRA_DESCRIPTION_LIMIT",
    "LINEAR_DESCRIPTION_LIMIT",
    "Section",
    "adf_comment",
    "escape_markdown",
    "fit",
    "issue_outline",
    "markdown_comment",
    "to_adf",
    "to_markdown",
]

JIRA_DESCRIPTION_LIMIT = 32_000  # Jira's text-field limit is 32,767; keep a margin (ADF JSON).
LINEAR_DESCRIPTION_LIMIT = 60_000  # slabot's own cap; Linear documents none.
MAX_ITEMS = 50  # occurrences / references listed before "… and N more"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Section:
    heading: str | None = None
    paragraphs: tuple[str, ...] = ()
    bullets: tuple[str, ...] = ()
    code: str | None = None


def _cut(text: str, cap: int) -> str:
    if len(text) <= cap:
        return text
    return text[: max(cap - 40, 0)] + f"\n… [truncated, {len(text) - cap + 40} more characters]"


def _listed(items: list[str], max_items: int) -> tuple[str, ...]:
    if len(items) <= max_items:
        return tuple(items)
    return (*items[:max_items], f"… and {len(items) - max_items} more")


def issue_outline(draft: IssueDraft, *, text_cap: int, max_items: int = MAX_ITEMS) -> list[Section]:
    """The description of a new issue, as plain-text sections (not yet escaped)."""
    facts = [
        f"Severity: {draft.severity}"
        + (
            f" (reported: {draft.reported_severity})"
            if draft.reported_severity != draft.severity
            else ""
        ),
        sla_line(draft),
        f"Asset: {draft.asset}",
        f"Template: {draft.template_id}",
    ]
    if draft.cve_ids:
        facts.append("CVE: " + ", ".join(draft.cve_ids))
    if draft.cwe_ids:
        facts.append("CWE: " + ", ".join(draft.cwe_ids))
    sections = [Section(paragraphs=tuple(_cut(f, 2_000) for f in facts))]
    if draft.kev is not None:
        kev = draft.kev
        line = (
            f"CISA KEV: listed since {kev.date_added.isoformat()} (catalog {kev.catalog_version})"
        )
        if kev.due_date is not None:
            line += f"; CISA due date {kev.due_date.isoformat()}"
        line += "; known ransomware use: " + ("yes" if kev.known_ransomware else "no/unknown")
        sections.append(Section("Known exploited vulnerability", (line,)))
    if draft.description.strip():
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", _cut(draft.description, text_cap))]
        sections.append(Section("Description", tuple(p for p in paragraphs if p)))
    if draft.occurrences:
        occ = [
            f"{_cut(o.matched_at, 500)} — first seen {o.first_seen.isoformat()}, "
            f"last seen {o.last_seen.isoformat()}"
            for o in draft.occurrences
        ]
        sections.append(Section("Occurrences", bullets=_listed(occ, max_items)))
    if draft.evidence.strip():
        sections.append(Section("Evidence (redacted)", code=_cut(draft.evidence, text_cap)))
    if draft.references:
        refs = [_cut(r, 1_000) for r in draft.references]
        sections.append(Section("References", bullets=_listed(refs, max_items)))
    sections.append(
        Section(
            paragraphs=(
                f"Opened by slabot for ticket {draft.ticket_id} "
                f"(idempotency key {draft.idempotency_label}).",
            )
        )
    )
    return sections


def fit(
    draft: IssueDraft,
    render: Callable[[list[Section]], T],
    size: Callable[[T], int],
    limit: int,
) -> T:
    """Render the draft with the largest section caps whose result is at most ``limit``."""
    text_cap, max_items = limit, MAX_ITEMS
    while True:
        body = render(issue_outline(draft, text_cap=text_cap, max_items=max_items))
        if size(body) <= limit or text_cap < 64:
            return body
        text_cap //= 2
        max_items = max(max_items // 2, 5)


# --- Atlassian Document Format (Jira REST v3) ---------------------------------------------------


def _adf_text(text: str) -> list[dict[str, Any]]:
    """Text with line breaks as ADF inline nodes (text nodes must not be empty)."""
    nodes: list[dict[str, Any]] = []
    for i, line in enumerate(text.split("\n")):
        if i:
            nodes.append({"type": "hardBreak"})
        if line:
            nodes.append({"type": "text", "text": line})
    return nodes


def _adf_link_or_text(text: str) -> list[dict[str, Any]]:
    if re.fullmatch(r"https?://[^\s]+", text):
        return [
            {"type": "text", "text": text, "marks": [{"type": "link", "attrs": {"href": text}}]}
        ]
    return _adf_text(text)


def _adf_blocks(section: Section) -> Iterator[dict[str, Any]]:
    if section.heading:
        yield {"type": "heading", "attrs": {"level": 3}, "content": _adf_text(section.heading)}
    for para in section.paragraphs:
        yield {"type": "paragraph", "content": _adf_text(para)}
    if section.bullets:
        yield {
            "type": "bulletList",
            "content": [
                {
                    "type": "listItem",
                    "content": [{"type": "paragraph", "content": _adf_link_or_text(item)}],
                }
                for item in section.bullets
            ],
        }
    if section.code is not None:
        block: dict[str, Any] = {"type": "codeBlock", "attrs": {}}
        if section.code:
            block["content"] = [{"type": "text", "text": section.code}]
        yield block


def to_adf(sections: list[Section]) -> dict[str, Any]:
    return {
        "type": "doc",
        "version": 1,
        "content": [block for s in sections for block in _adf_blocks(s)],
    }


def adf_size(doc: dict[str, Any]) -> int:
    return len(json.dumps(doc, ensure_ascii=False))


def adf_comment(text: str) -> dict[str, Any]:
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()] or [" "]
    return to_adf([Section(paragraphs=tuple(paragraphs))])


# --- Markdown (Linear) -------------------------------------------------------------------------

_MD_INLINE = re.compile(r"([\\`*_\[\]<>!|~&@{}$])")
_MD_ORDERED = re.compile(r"^(\d+)([.)])")


def escape_markdown(text: str) -> str:
    """Make untrusted text render literally in markdown (CommonMark + GFM).

    Backslash-escapes everything that opens inline markup anywhere in a line (code spans,
    emphasis, links and images, autolinks and HTML, tables, strikethrough, entities, mentions,
    math) and the block markers at the start of a line (headings, quotes, list items, setext
    underlines); drops leading indentation (indented code). ``:``, ``/`` and ``.`` inside a line
    stay as they are so URLs remain readable.
    """
    out = []
    for raw in text.split("\n"):
        line = _MD_INLINE.sub(r"\\\1", raw.strip())
        ordered = _MD_ORDERED.match(line)
        if ordered:
            line = ordered.group(1) + "\\" + line[len(ordered.group(1)) :]
        elif line and line[0] in "-+=#":
            line = "\\" + line
        out.append(line)
    return "\n".join(out)


def _fence(code: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    return "`" * max(3, longest + 1)


def to_markdown(sections: list[Section]) -> str:
    out: list[str] = []
    for s in sections:
        if s.heading:
            out.append("### " + escape_markdown(s.heading))
        out.extend(escape_markdown(p) for p in s.paragraphs)
        if s.bullets:
            out.append("\n".join("- " + escape_markdown(b) for b in s.bullets))
        if s.code is not None:
            fence = _fence(s.code)
            out.append(f"{fence}text\n{s.code}\n{fence}")
    return "\n\n".join(out) + "\n"


def markdown_comment(text: str) -> str:
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "\n\n".join(escape_markdown(p) for p in paragraphs) or "\u200b"
