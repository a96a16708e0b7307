"""Helpers for the training, kudos and classification tests: a catalog that uses them, and a person
taking a training through Slack's modal like anyone would."""

from __future__ import annotations

from typing import Any

from tests.conftest import Confide

LONG_LESSON = "\n\n".join(f"Paragraph {i}: " + "keep secrets in approved systems. " * 30 for i in range(20))

CATALOG = f'''
admins = ["U0ADMIN01"]
security_channel = "C0SECURITY"
recognition_channel = "C0KUDOS"
classification_review_days = 30

[[trainings]]
id = "basics"
title = "Secrets basics"
version = "v1"
due_days = 7
every_days = 90
pass_ratio = 0.75
lessons = [
  "# Why\\nA trade secret is **valuable** because it is *not generally known*.",
  "Need to know: ask with `/access`.",
  """{LONG_LESSON}""",
]

[[trainings.questions]]
text = "What makes a trade secret?"
options = ["Being marked", "Value from secrecy", "A manager's word"]
answer = "Value from secrecy"

[[trainings.questions]]
text = "How do you get access?"
options = ["Ask a friend", "Use /access"]
answer = "Use /access"

[[trainings.questions]]
text = "Where do secrets live?"
options = ["Approved systems", "Personal laptop"]
answer = "Approved systems"

[[trainings.questions]]
text = "A file went to the wrong person. Now?"
options = ["Wait", "Report it with /report-leak"]
answer = "Report it with /report-leak"

[[secrets]]
id = "recipe"
name = "Secret recipe"
owners = ["U0OWNER01", "U0OWNER02"]
classification = "restricted"
requires = ["basics"]

[[secrets]]
id = "roadmap"
name = "Product roadmap"
owners = ["U0OWNER01"]
classification_review_days = 60
'''

RIGHT = {
    "What makes a trade secret?": "Value from secrecy",
    "How do you get access?": "Use /access",
    "Where do secrets live?": "Approved systems",
    "A file went to the wrong person. Now?": "Report it with /report-leak",
}
# Two wrong of four: 2 right, 3 are needed.
TWO_WRONG = RIGHT | {"How do you get access?": "Ask a friend", "Where do secrets live?": "Personal laptop"}


def buttons(blocks: list[dict[str, Any]]) -> list[str]:
    """The labels of every button, in order."""
    labels = []
    for block in blocks:
        elements = list(block.get("elements", [])) if block.get("type") == "actions" else []
        if block.get("accessory"):
            elements.append(block["accessory"])
        labels += [e["text"]["text"] for e in elements if e.get("type") == "button"]
    return labels


async def latest_view(confide: Confide, method: str, count_before: int) -> dict[str, Any]:
    """The view of the next views.open / views.update call after `count_before` of them."""
    calls = await confide.fake.wait_for(lambda: confide.fake.calls_to(method)[count_before:])
    return calls[0].view


async def click_into_view(
    confide: Confide, user: str, label: str, *, view: dict[str, Any] | None = None, **where: Any
) -> dict[str, Any]:
    """Click a button; the modal Confide opens (views.open) or shows in its place (views.update)."""
    method = "views.update" if view is not None else "views.open"
    before = len(confide.fake.calls_to(method))
    status, _ = await confide.slack.click(user, label, view=view, **where)
    assert status == 200
    return await latest_view(confide, method, before)


async def read_lessons(confide: Confide, user: str, start_blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """Start from these blocks, page through every lesson with Next; the quiz view."""
    view = await click_into_view(confide, user, "Start", blocks=start_blocks)
    while "Next" in buttons(view["blocks"]):
        view = await click_into_view(confide, user, "Next", view=view)
    return await click_into_view(confide, user, "Take the quiz", view=view)


async def take_training(confide: Confide, user: str, answers: dict[str, str] | None = None) -> dict[str, Any]:
    """/training, Start, the lessons, the quiz answered (rightly by default); the result view."""
    _, body = await confide.slack.command(user, "/training")
    quiz = await read_lessons(confide, user, body["blocks"])
    status, result = await confide.slack.submit(user, quiz, answers or RIGHT)
    assert status == 200 and result["response_action"] == "update"
    return result["view"]
