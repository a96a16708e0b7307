"""Block Kit for training: /training, the lesson pages and quiz in a modal, the result, /training status,
the sweep's reminder and the App Home's part."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from config.catalog import Training
from config.lessons import lesson_pages
from handlers.blocks.common import (
    actions,
    button,
    context,
    divider,
    escape,
    message,
    modal,
    option,
    plain,
    section,
    slack_date,
    user,
)
from handlers.blocks.paging import capped_lines, line_sections
from handlers.ids import TrainingAction, TrainingView
from workflows.training import OwedTraining, PassedTraining, QuizResult, TrainingCoverage, TrainingOverview

TRAINING_USAGE = """*`/training`* — confidentiality training
• `/training` — the training you owe, each with a Start button, and what you passed
• `/training status` — passed / in scope per training, and who is outstanding (admins)
• `/training help` — this help"""
OUTSTANDING_LISTED = 40  # people listed per training in /training status; the counts cover everyone
QUESTION_BLOCK = "question_"  # + the question's index: the quiz's input blocks


def training_ref(training: Training) -> str:
    """What the buttons carry: `id|version`, so a click on an outdated card is recognised."""
    return f"{training.id}|{training.version}"


def start_section(training: Training | dict[str, Any], note: str = "") -> dict[str, Any]:
    """A training with its Start button; from the catalog, or as stored in an outbox message."""
    data = training if isinstance(training, dict) else training.model_dump(include={"id", "title", "version"})
    text = f"🎓 *{escape(data['title'])}* (version {escape(data['version'])})"
    if note:
        text += f"\n{note}"
    ref = f"{data['id']}|{data['version']}"
    return section(text, accessory=button("Start", TrainingAction.START, ref, "primary"))


def owed_note(owed: OwedTraining, now: datetime) -> str:
    parts = []
    if owed.is_refresher and owed.last_passed_at is not None:
        parts.append(f"Refresher: you last passed it {slack_date(owed.last_passed_at, '{date_short}')}.")
    if owed.due_at is not None:
        when = slack_date(owed.due_at, "{date_short}")
        parts.append(f"⚠️ Overdue since {when}." if owed.due_at <= now else f"Please complete it by {when}.")
    return " ".join(parts)


def owed_blocks(owed: list[OwedTraining], now: datetime) -> list[dict[str, Any]]:
    return [start_section(o.training, owed_note(o, now)) for o in owed]


def passed_line(passed: PassedTraining) -> str:
    line = f"• *{escape(passed.title)}* ({escape(passed.version)}) — passed {slack_date(passed.at)}"
    if passed.refresher_due_at is not None:
        line += f", refresher by {slack_date(passed.refresher_due_at, '{date_short}')}"
    return line if passed.current else line + " (superseded or due for a refresher)"


def training_overview(overview: TrainingOverview, now: datetime) -> dict[str, Any]:
    """/training: what you owe with Start buttons, or that you owe nothing; what you passed."""
    blocks: list[dict[str, Any]] = []
    if overview.owed:
        count = len(overview.owed)
        text = f"You have {count} training{'s' if count > 1 else ''} to complete."
        blocks.append(section(f"*{text}* Each takes a few minutes: short lessons, then a quiz."))
        blocks += owed_blocks(overview.owed, now)
    else:
        text = "✅ You owe no training: you are up to date."
        blocks.append(section(f"*{text}*"))
    if overview.passed:
        blocks.append(section("*What you passed*"))
        blocks += line_sections([passed_line(p) for p in overview.passed[:30]])
    elif not overview.owed:
        blocks.append(context("No training applies to you yet."))
    return message(text, blocks)


def training_prompt(intro: str, owed: list[Training]) -> list[dict[str, Any]]:
    """The trainings a person must complete first (an access refusal), each with its Start button."""
    return [section(intro), *(start_section(t) for t in owed)]


# ---- the modal: lessons, quiz, result ------------------------------------------------------------


def lesson_view(training: Training, page: int) -> dict[str, Any]:
    """Lesson page `page` (1-based) with Back / Next; the last page leads to the quiz."""
    pages = lesson_pages(training.lessons)
    page = min(max(page, 1), len(pages))
    current = pages[page - 1]
    lessons = pages[-1].lesson
    where = f"Lesson {current.lesson} of {lessons}"
    if current.parts > 1:
        where += f" · part {current.part} of {current.parts}"
    ref = training_ref(training)
    nav = []
    if page > 1:
        nav.append(button("Back", TrainingAction.BACK, f"{ref}|{page - 1}"))
    if page < len(pages):
        nav.append(button("Next", TrainingAction.NEXT, f"{ref}|{page + 1}", "primary"))
    else:
        nav.append(button("Take the quiz", TrainingAction.QUIZ, ref, "primary"))
    blocks = [
        context(f"*{escape(training.title)}* · {where}"),
        *(section(text) for text in current.sections),
        divider(),
        actions(*nav, block_id="training_nav"),
    ]
    return modal(TrainingView.LESSON, training.title, blocks, close="Close", private_metadata=ref)


def quiz_view(training: Training) -> dict[str, Any]:
    """One radio group per question, labelled with the question's text."""
    count = len(training.questions)
    blocks: list[dict[str, Any]] = [
        section(
            f"*{escape(training.title)}* — quiz. Answer the {count} question{'s' if count > 1 else ''}; "
            f"{training.pass_mark} right answer{'s' if training.pass_mark > 1 else ''} pass."
        )
    ]
    for i, question in enumerate(training.questions):
        blocks.append(
            {
                "type": "input",
                "block_id": f"{QUESTION_BLOCK}{i}",
                "label": plain(question.text),
                "element": {
                    "type": "radio_buttons",
                    "action_id": "value",
                    "options": [option(text, str(j)) for j, text in enumerate(question.options)],
                },
            }
        )
    return modal(
        TrainingView.QUIZ, "Quiz", blocks, submit="Submit answers", private_metadata=training_ref(training)
    )


def result_view(result: QuizResult) -> dict[str, Any]:
    """Passed: the completion is recorded. Failed: which questions were wrong, and Retry."""
    training = result.training
    title = escape(training.title)
    score = f"{result.correct} of {result.total} right"
    if result.passed:
        text = f"✅ *You passed {title}* — {score}. Your completion is recorded. Thank you!"
        if result.refresher_due_at is not None:
            text += f"\nA refresher will be due {slack_date(result.refresher_due_at, '{date_short}')}."
        return modal(TrainingView.LESSON, "Training passed", [section(text)], close="Done")
    wrong = [f"• {i + 1}. {escape(training.questions[i].text)}" for i in result.wrong]
    ref = training_ref(training)
    blocks = [
        section(f"*Not passed yet:* {score}; {training.pass_mark} are needed to pass *{title}*."),
        section("*Questions to look at again*"),
        *line_sections(wrong),
        actions(
            button("Retry", TrainingAction.RETRY, ref, "primary"),
            button("Review the lessons", TrainingAction.NEXT, f"{ref}|1"),
            block_id="training_retry",
        ),
    ]
    return modal(TrainingView.LESSON, "Try again", blocks, close="Close", private_metadata=ref)


# ---- /training status -----------------------------------------------------------------------------


def coverage_line(item: TrainingCoverage) -> str:
    t = item.training
    line = (
        f"*{escape(t.title)}* (`{t.id}`, version {escape(t.version)}, {t.applies_to}): "
        f"*{item.passed} of {item.in_scope}* passed ({item.percent}%)"
    )
    if item.outstanding:
        overdue = sum(1 for _, _, late in item.outstanding if late)
        line += f" · {len(item.outstanding)} outstanding, {overdue} overdue"
    return line


def training_status(coverage: list[TrainingCoverage], now: datetime) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [section(f"*Training status* as of {slack_date(now)}")]
    if not coverage:
        blocks.append(context("The catalog has no trainings."))
    for item in coverage:
        blocks.append(section(coverage_line(item)))
        lines = []
        for user_id, since, overdue in item.outstanding:
            line = f"• {user(user_id)}"
            if since is not None:
                line += f" — owed since {slack_date(since, '{date_short}')}"
            lines.append(line + (" · ⚠️ overdue" if overdue else ""))
        if lines:
            blocks += line_sections(capped_lines(lines, OUTSTANDING_LISTED))
        elif item.in_scope:
            blocks.append(context("Everyone in scope has passed the current version."))
    text = "Training status: " + (
        "; ".join(f"{c.training.id} {c.passed}/{c.in_scope}" for c in coverage) or "no trainings"
    )
    return message(text, blocks)


# ---- the sweep's reminder ---------------------------------------------------------------------------


def training_due_item(item: dict[str, Any]) -> list[dict[str, Any]]:
    reminder = f" · reminder {item['reminder']}" if item.get("reminder") else ""
    if item.get("refresher"):
        note = f"A refresher is due since {slack_date(item['owed_from'], '{date_short}')}."
    else:
        since = slack_date(item["owed_from"], "{date_short}") if item.get("owed_from") else "a while"
        note = f"You owe it since {since}."
    data = {"id": item["training_id"], "title": item["title"], "version": item["version"]}
    return [start_section(data, f"{note}{reminder}")]


def training_due_summary(item: dict[str, Any]) -> str:
    what = "refresher due" if item.get("refresher") else "training owed"
    return f"{what}: {item['title']}"
