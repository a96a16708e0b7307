"""The sweep's batched message stays within Slack's limits and renders every item type."""

from datetime import UTC, datetime

from handlers.blocks.messages import render
from handlers.blocks.nudges import ITEM_TYPES
from handlers.ids import Action, CaseAction
from workflows.sweep.collector import ITEMS_PER_MESSAGE, Collector

AT = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
GRANT = {"grant_id": 1, "secret_id": "x", "secret_name": "X <y>", "grantee": "U1"}
DATES = {"granted_at": AT, "expires_at": AT, "review_due_at": AT}
REQUEST = {"request_id": 3, "secret_id": "x", "secret_name": "X", "requester": "U1", "grant_id": None}
AGREEMENT = {"agreement_id": "nda", "title": "NDA <b>", "version": "v1"}
CASE = {"case_id": 1, "ref": "CASE-1", "status": "new", "ack_due_at": AT, "feedback_due_at": AT, "notice": 1}
SAMPLES = {
    "review_due": {**GRANT, **DATES, "reminder": 2},
    "review_escalation": {**GRANT, **DATES, "owners": ["U2"], "reminders": 2},
    "request_reminder": {
        **REQUEST,
        "kind": "new",
        "duration_hours": 48,
        "justification": "<!channel> please",
        "approvals_needed": 1,
        "approved_by": [],
        "created_at": AT,
        "expires_at": AT,
    },
    "request_expired": {**REQUEST, "kind": "extend", "grant_id": 4, "hours": 72},
    "grant_expiring": {**GRANT, "expires_at": AT},
    "grant_expired": {**GRANT, "expired_at": AT, "extension_request": 9},
    "training_due": {
        "training_id": "t",
        "title": "T <b>",
        "version": "1",
        "owed_from": AT,
        "refresher": True,
        "reminder": 1,
    },
    "classification_review": {
        "secret_id": "x",
        "secret_name": "X <y>",
        "classification": "restricted",
        "review_due_at": AT,
        "last_reviewed_at": None,
        "first_seen_at": AT,
        "reminder": 0,
    },
    "agreement_owed": {
        **AGREEMENT,
        "url": "https://intranet.example/nda.pdf",
        "owed_since": AT,
        "due_at": AT,
        "reminder": 2,
    },
    "agreement_escalation": {
        **AGREEMENT,
        "users": ["U1", "U2"],
        "count": 40,
        "oldest_owed_since": AT,
        "reminders": 2,
    },
    "case_not_taken": {**CASE, "assignee": None},
    "case_feedback_due": {**CASE, "assignee": "U2"},
}


def test_every_item_type_renders_and_user_text_is_escaped():
    assert set(SAMPLES) == set(ITEM_TYPES)
    collector = Collector()
    for item_type, data in SAMPLES.items():
        collector.add("U0OWNER01", item_type, **data)
    payload = render("nudges", {"items": collector.items_for("U0OWNER01"), "page": 1, "pages": 1})
    assert payload["text"].startswith(f"Confide: {len(SAMPLES)} item(s)")
    assert "<!channel>" not in str(payload["blocks"]) and "&lt;!channel&gt;" in str(payload["blocks"])
    assert "X &lt;y&gt;" in str(payload["blocks"]) and "NDA &lt;b&gt;" in str(payload["blocks"])
    buttons = {
        (b["accessory"]["action_id"], b["accessory"]["value"]) for b in payload["blocks"] if "accessory" in b
    }
    assert (Action.ACKNOWLEDGE_AGREEMENT, "nda|v1") in buttons
    assert (CaseAction.TAKE, "1") in buttons and (CaseAction.MESSAGE_REPORTER, "1") in buttons


def test_a_full_page_of_the_largest_items_fits_in_one_message():
    # The most blocks a page can hold: every item type (a heading each), the rest two-block items.
    items = [{"type": t, **d} for t, d in SAMPLES.items()]
    items += [
        {"type": "review_due", **SAMPLES["review_due"], "grant_id": i}
        for i in range(ITEMS_PER_MESSAGE - len(items))
    ]
    assert len(items) == ITEMS_PER_MESSAGE
    payload = render("nudges", {"items": items, "page": 1, "pages": 2})
    assert len(payload["blocks"]) <= 50
    assert "…and more" not in str(payload["blocks"])  # nothing was cut


def test_an_unknown_item_type_still_renders():
    payload = render("nudges", {"items": [{"type": "from_the_future", "text": "something due"}]})
    assert "something due" in payload["text"]
