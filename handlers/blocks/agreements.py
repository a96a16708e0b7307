"""Block Kit for confidentiality agreements: /nda, /nda status, the welcome and new-version DMs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from config.catalog import Agreement
from handlers.blocks.common import button, context, escape, message, section, slack_date, user
from handlers.blocks.paging import Pager, line_sections, page_navigation
from handlers.blocks.training import start_section
from handlers.ids import Action
from workflows.agreements import AgreementsOverview, OwedAgreement
from workflows.compliance import AgreementCoverage, Outstanding

NDA_USAGE = """*`/nda`* — confidentiality agreements
• `/nda` — the agreements you still owe, each with an I acknowledge button
• `/nda status` — acknowledged / in scope per agreement, and who is outstanding (admins)
• `/nda help` — this help"""


def acknowledge_section(agreement: dict[str, Any], note: str = "") -> dict[str, Any]:
    """One agreement with its link and the I acknowledge button (value: `id|version`)."""
    link = f"<{agreement['url']}|Read it>" if agreement.get("url") else "Ask legal for the text"
    text = f"*{escape(agreement['title'])}* (version {escape(agreement['version'])}) — {link}"
    if note:
        text += f"\n{note}"
    return section(
        text,
        accessory=button(
            "I acknowledge",
            Action.ACKNOWLEDGE_AGREEMENT,
            f"{agreement['id']}|{agreement['version']}",
            "primary",
        ),
    )


def _as_data(agreement: Agreement) -> dict[str, Any]:
    return {"id": agreement.id, "title": agreement.title, "version": agreement.version, "url": agreement.url}


def owed_note(owed: OwedAgreement, now: datetime) -> str:
    """Why it is owed and by when, in a word."""
    parts: list[str] = []
    previous = owed.previous
    if owed.is_renewal and previous is not None:
        parts.append(f"Renewal: you last acknowledged it {slack_date(previous.at, '{date_short}')}.")
    elif previous is not None:
        parts.append(f"New version; you acknowledged {escape(previous.version)}.")
    if owed.due_at is not None:
        when = slack_date(owed.due_at, "{date_short}")
        parts.append(f"⚠️ Overdue since {when}." if owed.due_at <= now else f"Please acknowledge by {when}.")
    return " ".join(parts)


def owed_blocks(owed: list[OwedAgreement], now: datetime) -> list[dict[str, Any]]:
    return [acknowledge_section(_as_data(o.agreement), owed_note(o, now)) for o in owed]


def nda_overview(overview: AgreementsOverview, now: datetime) -> dict[str, Any]:
    """/nda: what you owe, with buttons; or that you owe nothing, and what you acknowledged when."""
    blocks: list[dict[str, Any]] = []
    if overview.owed:
        count = len(overview.owed)
        text = f"You have {count} confidentiality agreement{'s' if count > 1 else ''} to acknowledge."
        blocks.append(section(f"*{text}* Please read each one, then click *I acknowledge*."))
        blocks += owed_blocks(overview.owed, now)
    else:
        text = "✅ You owe no confidentiality agreements: you are up to date."
        blocks.append(section(f"*{text}*"))
    if overview.acknowledged:
        lines = []
        for ack in overview.acknowledged[:30]:
            state = "" if ack.current else " (superseded or lapsed)"
            renew = f", renew by {slack_date(ack.lapses_at, '{date_short}')}" if ack.lapses_at else ""
            lines.append(
                f"• *{escape(ack.title)}* ({escape(ack.version)}) — acknowledged "
                f"{slack_date(ack.at)}{renew}{state}"
            )
        blocks.append(section("*What you acknowledged*"))
        blocks += line_sections(lines)
    elif not overview.owed:
        blocks.append(context("No agreement applies to you yet."))
    return message(text, blocks)


def acknowledged_text(agreement: Agreement, version: str) -> str:
    return (
        f"✅ Thank you: your acknowledgement of *{escape(agreement.title)}* ({escape(version)}) is recorded."
    )


# ---- /nda status ---------------------------------------------------------------------------------


def coverage_line(item: AgreementCoverage) -> str:
    a = item.agreement
    line = (
        f"*{escape(a.title)}* (`{a.id}`, version {escape(a.version)}, {a.applies_to}): "
        f"*{item.acknowledged} of {item.in_scope}* acknowledged ({item.percent}%)"
    )
    if item.outstanding:
        line += f" · {len(item.outstanding)} outstanding, {item.overdue} overdue"
    return line


def outstanding_line(person: Outstanding) -> str:
    line = f"• {user(person.user_id)}"
    if person.owed_since is not None:
        line += f" — owed since {slack_date(person.owed_since, '{date_short}')}"
    if person.overdue:
        line += " · ⚠️ overdue"
    return line


def nda_status_pages(coverage: list[AgreementCoverage], now: datetime) -> list[list[dict[str, Any]]]:
    pager = Pager()
    pager.add(section(f"*Agreement status* as of {slack_date(now)}"))
    if not coverage:
        pager.add(context("The catalog has no agreements."))
    for item in coverage:
        pager.add(section(coverage_line(item)))
        if item.earlier_versions:
            earlier = ", ".join(f"{escape(v)}: {n}" for v, n in item.earlier_versions[:10])
            pager.add(context(f"Acknowledgements of earlier versions (kept as evidence): {earlier}"))
        if item.outstanding:
            pager.add_lines(
                [outstanding_line(p) for p in item.outstanding],
                continued=f"*{escape(item.agreement.title)}* — outstanding (continued)",
            )
        elif item.in_scope:
            pager.add(context("Everyone in scope has acknowledged the current version."))
    return pager.pages


def nda_status(coverage: list[AgreementCoverage], now: datetime, page: int = 1) -> dict[str, Any]:
    """One page of /nda status; the same page number always shows the same slice."""
    pages = nda_status_pages(coverage, now)
    page = min(max(page, 1), len(pages))
    text = "Agreement status: " + (
        "; ".join(f"{c.agreement.id} {c.acknowledged}/{c.in_scope}" for c in coverage) or "no agreements"
    )
    nav = page_navigation(page, len(pages), Action.NDA_STATUS_PREVIOUS, Action.NDA_STATUS_NEXT)
    return message(text, pages[page - 1] + nav)


# ---- DMs from the outbox -----------------------------------------------------------------------


def welcome(data: dict[str, Any]) -> dict[str, Any]:
    """team_join: welcome, and the agreements that apply with their buttons."""
    agreements = data.get("agreements") or []
    greeting = f"👋 Welcome, {user(data['user'])}! I'm Confide: I look after the company's trade secrets."
    if agreements:
        text = f"{greeting} Please read and acknowledge the confidentiality agreements that apply to you."
        blocks = [section(text), *(acknowledge_section(a) for a in agreements)]
    else:
        text = f"{greeting} There is nothing for you to acknowledge right now."
        blocks = [section(text)]
    trainings = data.get("trainings") or []
    if trainings:
        blocks.append(section("Please also take the short confidentiality training that applies to you:"))
        blocks += [start_section(t) for t in trainings]
    blocks.append(
        context(
            "`/nda` and `/training` show what you owe at any time; `/confide help` shows everything else."
        )
    )
    return message(text, blocks)


def published(data: dict[str, Any]) -> dict[str, Any]:
    """A new version (or a new agreement) applies to you."""
    agreements = data.get("agreements") or []
    names = ", ".join(a["title"] for a in agreements)
    text = f"📄 A new version of {names} is published. Please read it and acknowledge it."
    blocks = [section("📄 *A new version is published.* Please read it and click *I acknowledge*.")]
    blocks += [acknowledge_section(a) for a in agreements]
    return message(text, blocks)
