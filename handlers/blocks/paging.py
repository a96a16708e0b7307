"""Long lists in Block Kit: lines packed into sections (3000 characters each) and sections into pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from handlers.blocks.common import MAX_SECTION_TEXT, actions, button, context, section, truncate

LINES_PER_SECTION = 20  # a readable chunk; also keeps each section well under 3000 characters


def line_sections(lines: list[str], per_section: int = LINES_PER_SECTION) -> list[dict[str, Any]]:
    """Lines joined into as few sections as Slack's limits allow, never splitting a line."""
    blocks: list[dict[str, Any]] = []
    current: list[str] = []
    size = 0
    for line in lines:
        line = truncate(line, MAX_SECTION_TEXT // 2)
        if current and (len(current) >= per_section or size + len(line) + 1 > MAX_SECTION_TEXT):
            blocks.append(section("\n".join(current)))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        blocks.append(section("\n".join(current)))
    return blocks


def capped_lines(lines: list[str], limit: int, more: str = "…and {n} more.") -> list[str]:
    """At most `limit` lines, then a line saying how many were left out."""
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], more.format(n=len(lines) - limit)]


@dataclass
class Pager:
    """Fills pages of at most `max_blocks` blocks and `max_items` list lines; a list cut by a page
    break carries on under a '(continued)' heading."""

    max_blocks: int = 45
    max_items: int = 100
    pages: list[list[dict[str, Any]]] = field(default_factory=lambda: [[]])
    _items: int = 0

    def add(self, *blocks: dict[str, Any]) -> None:
        if self.pages[-1] and len(self.pages[-1]) + len(blocks) > self.max_blocks:
            self._new_page()
        self.pages[-1].extend(blocks)

    def add_lines(self, lines: list[str], continued: str) -> None:
        done = 0
        while done < len(lines):
            room_items = self.max_items - self._items
            room_blocks = self.max_blocks - len(self.pages[-1])
            if room_items <= 0 or room_blocks <= 0:
                self._new_page()
                self.pages[-1].append(section(continued))
                continue
            take = lines[done : done + min(room_items, room_blocks * LINES_PER_SECTION)]
            blocks = line_sections(take)
            if len(blocks) > room_blocks:  # unusually long lines: take fewer
                take = take[: room_blocks * (len(take) // len(blocks))] or take[:1]
                blocks = line_sections(take)
            self.pages[-1].extend(blocks)
            self._items += len(take)
            done += len(take)

    def _new_page(self) -> None:
        self.pages.append([])
        self._items = 0


def page_navigation(page: int, pages: int, previous_action: str, next_action: str) -> list[dict[str, Any]]:
    """'Page n of m' and the buttons to move; nothing when everything fits on one page."""
    if pages <= 1:
        return []
    buttons = []
    if page > 1:
        buttons.append(button("◀ Previous page", previous_action, str(page - 1)))
    if page < pages:
        buttons.append(button("Next page ▶", next_action, str(page + 1)))
    return [context(f"Page {page} of {pages}"), actions(*buttons, block_id="paging")]
