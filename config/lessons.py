"""Lessons are short Markdown in the catalog; Slack shows mrkdwn in sections of at most 3000 characters.

Conversion and splitting live here, next to the catalog, because `confide catalog check` must judge a
lesson by exactly the pages the training modal will show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SECTION_LIMIT = 3000  # characters in a Block Kit section
SECTIONS_PER_PAGE = 5  # a modal page stays readable; longer lessons carry on over several pages

_LINK = re.compile(r"\[([^\]\n]+)\]\(((?:https?://|mailto:)[^)\s]+)\)")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+")
_CODE = re.compile(r"(```.*?```|`[^`\n]+`)", re.DOTALL)


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def markdown_to_mrkdwn(markdown: str) -> str:
    """The Markdown people write (**bold**, *italic*, [links](https://…), # headings, - bullets) as
    Slack mrkdwn. Code spans and blocks are left as they are; Slack reads backticks the same way."""
    parts = _CODE.split(markdown.strip())
    out = [escape(part) if i % 2 else _inline(part) for i, part in enumerate(parts)]
    return "".join(out)


def _inline(text: str) -> str:
    lines = []
    for line in escape(text).split("\n"):
        heading = _HEADING.match(line)
        if heading:
            line = f"**{heading.group(1)}**"
        line = _BULLET.sub(lambda m: f"{m.group(1)}• ", line)
        lines.append(line)
    text = "\n".join(lines)
    text = _LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1)}>", text)
    text = _ITALIC.sub(r"_\1_", text)
    text = _BOLD.sub(r"*\2*", text)
    return _STRIKE.sub(r"~\1~", text)


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Pieces of at most `limit` characters, cut between paragraphs, else lines, else words."""
    if len(text) <= limit:
        return [text]
    for separator in ("\n\n", "\n", " "):
        pieces = text.split(separator)
        if len(pieces) > 1:
            return _pack([p for piece in pieces for p in split_text(piece, limit)], separator, limit)
    return [text[i : i + limit] for i in range(0, len(text), limit)]


def _pack(pieces: list[str], separator: str, limit: int) -> list[str]:
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + len(separator) + len(piece) <= limit:
            chunks[-1] += separator + piece
        else:
            chunks.append(piece)
    return [c for c in chunks if c.strip()]


@dataclass(frozen=True)
class LessonPage:
    lesson: int  # 1-based
    part: int  # 1-based part of that lesson
    parts: int
    sections: tuple[str, ...]  # mrkdwn, each within SECTION_LIMIT


def lesson_pages(lessons: list[str]) -> list[LessonPage]:
    """Every lesson as one or more modal pages."""
    pages: list[LessonPage] = []
    for number, lesson in enumerate(lessons, start=1):
        sections = split_text(markdown_to_mrkdwn(lesson))
        chunks = [sections[i : i + SECTIONS_PER_PAGE] for i in range(0, len(sections), SECTIONS_PER_PAGE)]
        for part, chunk in enumerate(chunks, start=1):
            pages.append(LessonPage(number, part, len(chunks), tuple(chunk)))
    return pages
