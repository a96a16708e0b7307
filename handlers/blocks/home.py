"""The App Home: the person's access and agreements; owners' reviews; the admins' dashboard."""

from __future__ import annotations

from typing import Any

from config.catalog import Catalog
from handlers.blocks.agreements import owed_blocks
from handlers.blocks.common import context, divider, escape, plain, section, slack_date, user
from handlers.blocks.dashboard import dashboard_blocks, grant_due_line
from handlers.blocks.kudos import home_kudos
from handlers.blocks.paging import capped_lines, line_sections
from handlers.blocks.training import owed_blocks as training_owed_blocks
from handlers.blocks.training import passed_line
from workflows.access import describe_hours
from workflows.home import Home

MAX_VIEW_BLOCKS = 100
LIST_LIMIT = 15


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": plain(text[:150])}


def _agreements(home: Home) -> list[dict[str, Any]]:
    blocks = [section("*Agreements you owe*")]
    if home.owed:
        blocks += owed_blocks(home.owed[:20], home.now)
    else:
        blocks.append(context("✅ You are up to date with every agreement that applies to you."))
    return blocks


def _training(home: Home) -> list[dict[str, Any]]:
    if home.training is None:
        return []
    blocks = [section("*Training you owe*")]
    if home.training.owed:
        blocks += training_owed_blocks(home.training.owed[:10], home.now)
    else:
        blocks.append(context("✅ You are up to date with your confidentiality training."))
    passed = [passed_line(p) for p in home.training.passed if p.current]
    if passed:
        blocks += line_sections(capped_lines(passed, 5))
    return blocks


def _access(home: Home, catalog: Catalog) -> list[dict[str, Any]]:
    names = {s.id: s.name for s in catalog.secrets}
    blocks = [section("*Your access*")]
    if home.grants:
        lines = [
            f"• *{escape(names.get(g.secret_id, g.secret_id))}* — G-{g.id}, until {slack_date(g.expires_at)}"
            for g in home.grants
        ]
        blocks += line_sections(capped_lines(lines, LIST_LIMIT, "…and {n} more: `/access list`."))
    else:
        blocks.append(context("You have no active grants. `/access` requests access to a secret."))
    blocks.append(section("*Your pending requests*"))
    if home.pending:
        lines = [
            f"• R-{r.id} *{escape(r.secret_name)}* for {describe_hours(r.duration_hours)} — "
            f"{len(r.approved_by)} of {r.approvals_needed} approvals"
            for r in home.pending
        ]
        blocks += line_sections(capped_lines(lines, LIST_LIMIT))
    else:
        blocks.append(context("No pending requests."))
    return blocks


def _reviews(home: Home) -> list[dict[str, Any]]:
    if home.reviews_due is None:
        return []
    blocks = [divider(), section("*Reviews due for your secrets*")]
    if home.reviews_due:
        lines = [grant_due_line(g, home.now) for g in home.reviews_due]
        blocks += line_sections(capped_lines(lines, LIST_LIMIT))
    else:
        blocks.append(context("No grant of your secrets is due for review in the next 7 days."))
    return blocks


def _dashboard(home: Home) -> list[dict[str, Any]]:
    if home.dashboard is None:
        return []
    return [divider(), _header("Compliance dashboard"), *dashboard_blocks(home.dashboard)]


def home_view(home: Home, catalog: Catalog) -> dict[str, Any]:
    """The Home tab; at most 100 blocks, the lists shortened rather than the view refused."""
    blocks: list[dict[str, Any]] = [
        _header("Confide"),
        context(f"Trade-secret safeguards for {user(home.user_id)} · updated {slack_date(home.now)}"),
        *_agreements(home),
        *_training(home),
        divider(),
        *_access(home, catalog),
        *home_kudos(home.kudos_received, home.latest_kudos),
        *_reviews(home),
        *_dashboard(home),
    ]
    if len(blocks) > MAX_VIEW_BLOCKS:
        blocks = [*blocks[: MAX_VIEW_BLOCKS - 1], context("…shortened; the commands show everything.")]
    return {"type": "home", "blocks": blocks}
