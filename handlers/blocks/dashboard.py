"""The compliance dashboard as Block Kit: /confide status and the admins' App Home share it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from handlers.blocks.agreements import coverage_line
from handlers.blocks.classification import status_blocks
from handlers.blocks.common import context, escape, message, section, slack_date, user
from handlers.blocks.paging import capped_lines, line_sections
from handlers.blocks.training import coverage_line as training_coverage_line
from workflows.compliance import Dashboard, GrantDue, OpenCase
from workflows.open_cases import count_by_age, count_by_status

LIST_LIMIT = 10  # items listed per section; the counts are always complete


def describe_age(age: timedelta) -> str:
    if age >= timedelta(days=1):
        days = age.days
        return f"{days} day" if days == 1 else f"{days} days"
    hours = int(age.total_seconds() // 3600)
    if hours < 1:
        return "less than an hour"
    return f"{hours} hour" if hours == 1 else f"{hours} hours"


def grant_due_line(grant: GrantDue, now: datetime) -> str:
    when = slack_date(grant.review_due_at, "{date_short}")
    due = f"overdue since {when}" if grant.review_due_at <= now else f"review due {when}"
    return f"• G-{grant.grant_id} *{escape(grant.secret_name)}* — {user(grant.grantee)} — {due}"


def _titled(title: str, lines: list[str], empty: str) -> list[dict[str, Any]]:
    if not lines:
        return [section(f"*{title}*"), context(empty)]
    return [section(f"*{title}*"), *line_sections(capped_lines(lines, LIST_LIMIT))]


def coverage_section(d: Dashboard) -> list[dict[str, Any]]:
    lines = [f"• {coverage_line(c)}" for c in d.coverage]
    return _titled("Agreement coverage", lines, "The catalog has no agreements.")


def reviews_due_section(d: Dashboard) -> list[dict[str, Any]]:
    lines = [grant_due_line(g, d.now) for g in d.reviews_due_soon]
    return _titled(f"Grants due for review in the next 7 days: {len(lines)}", lines, "None.")


def overdue_reviews_section(d: Dashboard) -> list[dict[str, Any]]:
    lines = [grant_due_line(g, d.now) for g in d.reviews_overdue]
    return _titled(f"Overdue reviews: {len(lines)}", lines, "None: every review is up to date.")


def pending_requests_section(d: Dashboard) -> list[dict[str, Any]]:
    lines = [
        f"• R-{r.request_id} *{escape(r.secret_name)}* by {user(r.requester)} — waiting "
        f"{describe_age(d.now - r.created_at)}"
        for r in d.pending_requests
    ]
    return _titled(f"Pending requests: {len(lines)}", lines, "None.")


def open_cases_section(d: Dashboard) -> list[dict[str, Any]]:
    if d.open_cases is None:  # no cases feature: nothing to show, not even a zero
        return []
    return _titled(f"Open cases: {len(d.open_cases)}", _case_lines(d.open_cases, d.now), "No open cases.")


def _case_lines(cases: list[OpenCase], now: datetime) -> list[str]:
    if not cases:
        return []
    by_age = "By age: " + " · ".join(f"{label}: {n}" for label, n in count_by_age(cases, now).items())
    by_status = "By status: " + " · ".join(f"{status}: {n}" for status, n in count_by_status(cases).items())
    oldest = sorted(cases, key=lambda c: c.opened_at)
    return [by_age, by_status] + [
        f"• {c.ref} ({escape(c.status)}) — open {describe_age(now - c.opened_at)}"
        + (" — ⚠️ past a deadline" if c.overdue else "")
        for c in oldest
    ]


def training_section(d: Dashboard) -> list[dict[str, Any]]:
    if d.training is None:
        return []
    lines = [f"• {training_coverage_line(c)}" for c in d.training]
    return _titled("Training completion", lines, "The catalog has no trainings.")


def classification_section(d: Dashboard) -> list[dict[str, Any]]:
    return status_blocks(d.classification, d.now) if d.classification is not None else []


def overdue_section(d: Dashboard) -> list[dict[str, Any]]:
    """One line up front: everything past its deadline, so a clean bill of health is seen at once."""
    parts = [
        f"{d.agreements_overdue} agreement acknowledgement(s) past due",
        f"{len(d.reviews_overdue)} review(s)",
    ]
    if d.open_cases is not None:
        parts.append(f"{d.cases_overdue} case(s) past a deadline")
    icon = "⚠️" if d.overdue_items else "✅"
    return [section(f"{icon} *Overdue items: {d.overdue_items}* — " + ", ".join(parts))]


# The dashboard's sections in order; a feature adds its section here.
SECTIONS: list[Callable[[Dashboard], list[dict[str, Any]]]] = [
    overdue_section,
    coverage_section,
    reviews_due_section,
    overdue_reviews_section,
    pending_requests_section,
    open_cases_section,
    training_section,
    classification_section,
]


def dashboard_blocks(d: Dashboard) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for render in SECTIONS:
        blocks += render(d)
    return blocks


def dashboard_summary(d: Dashboard) -> str:
    coverage = ", ".join(f"{c.agreement.id} {c.acknowledged}/{c.in_scope}" for c in d.coverage) or "none"
    text = (
        f"Compliance dashboard — coverage: {coverage}; reviews due soon: {len(d.reviews_due_soon)}; "
        f"overdue reviews: {len(d.reviews_overdue)}; pending requests: {len(d.pending_requests)}"
    )
    if d.open_cases is not None:
        text += f"; open cases: {len(d.open_cases)}"
    return text + f"; overdue items: {d.overdue_items}"


def dashboard_message(d: Dashboard) -> dict[str, Any]:
    """/confide status."""
    blocks = [section(f"*Compliance dashboard* as of {slack_date(d.now)}"), *dashboard_blocks(d)]
    return message(dashboard_summary(d), blocks)
