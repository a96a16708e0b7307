"""Drives Confide the way Slack does: signed form bodies, `payload=` JSON, Events API JSON."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp

from tests.fake_slack import FakeSlack

_ids = itertools.count(1)


class SlackDriver:
    def __init__(self, base_url: str, signing_secret: str, fake: FakeSlack):
        self.base_url = base_url
        self.signing_secret = signing_secret
        self.fake = fake
        self.session = aiohttp.ClientSession()

    async def close(self) -> None:
        await self.session.close()

    def sign(self, body: str, timestamp: int | None = None) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        digest = hmac.new(
            self.signing_secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256
        ).hexdigest()
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}

    async def post(
        self, body: str, content_type: str, headers: dict[str, str] | None = None, signed: bool = True
    ) -> tuple[int, Any]:
        all_headers = {"Content-Type": content_type, **(self.sign(body) if signed else {}), **(headers or {})}
        async with self.session.post(
            f"{self.base_url}/slack/events", data=body.encode(), headers=all_headers
        ) as r:
            text = await r.text()
            try:
                return r.status, json.loads(text) if text else None
            except json.JSONDecodeError:
                return r.status, text

    # ---- slash commands ------------------------------------------------------------------------
    async def command(self, user: str, command: str, text: str = "") -> tuple[int, Any]:
        n = next(_ids)
        form = {
            "token": "legacy",
            "team_id": "T0TEAM",
            "team_domain": "example",
            "channel_id": "C0GENERAL",
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0CONFIDE",
            "response_url": self.fake.response_url(f"cmd{n}"),
            "trigger_id": f"trigger.{n}",
        }
        return await self.post(urlencode(form), "application/x-www-form-urlencoded")

    # ---- interactivity -------------------------------------------------------------------------
    async def interact(self, payload: dict[str, Any]) -> tuple[int, Any]:
        return await self.post(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
        )

    async def click(
        self,
        user: str,
        label: str,
        *,
        message: dict[str, Any] | None = None,
        view: dict[str, Any] | None = None,
        blocks: list[dict[str, Any]] | None = None,
        channel: str | None = None,
        block_id: str | None = None,
    ) -> tuple[int, Any]:
        """Click the button whose text is `label` in a message (as posted), a view, or bare blocks;
        with `block_id`, the one in that block (a message with a Keep button per grant)."""
        source = blocks if blocks is not None else (view or {}).get("blocks") or _blocks_of(message or {})
        found = find_button(source, label, block_id)
        if found is None:
            raise AssertionError(f"no button {label!r} in {json.dumps(source)[:600]}")
        block_id, element = found
        n = next(_ids)
        payload: dict[str, Any] = {
            "type": "block_actions",
            "team": {"id": "T0TEAM"},
            "user": {"id": user, "username": user.lower(), "team_id": "T0TEAM"},
            "api_app_id": "A0CONFIDE",
            "trigger_id": f"trigger.{n}",
            "actions": [
                {
                    "type": "button",
                    "action_id": element["action_id"],
                    "block_id": block_id,
                    "value": element.get("value", ""),
                    "text": element["text"],
                    "action_ts": str(time.time()),
                }
            ],
        }
        if view is not None:
            payload["container"] = {"type": "view", "view_id": view.get("id", "V0")}
            payload["view"] = {**view, "id": view.get("id", "V0"), "type": view.get("type", "modal")}
        else:
            channel = channel or (message or {}).get("channel", "D0CHANNEL")
            ts = (message or {}).get("ts", "1700000000.000001")
            payload["container"] = {"type": "message", "message_ts": ts, "channel_id": channel}
            payload["channel"] = {"id": channel}
            payload["message"] = {"ts": ts, "blocks": source}
            payload["response_url"] = self.fake.response_url(f"act{n}")
        return await self.interact(payload)

    async def submit(self, user: str, view: dict[str, Any], values: dict[str, Any]) -> tuple[int, Any]:
        """Submit a modal, filling inputs by their label: text, a select or radio option's text, checkbox
        texts, a user id (user select), a list of user ids (multi-user select) or YYYY-MM-DD (date
        picker). Inputs left out keep their initial value, as in Slack."""
        state: dict[str, Any] = {}
        for block in view.get("blocks", []):
            if block.get("type") != "input":
                continue
            label = block["label"]["text"]
            element = block["element"]
            entry: dict[str, Any] = {"type": element["type"]}
            if label not in values:
                entry.update(_initial_state(element))
                state[block["block_id"]] = {element["action_id"]: entry}
                continue
            value = values[label]
            if element["type"] == "plain_text_input":
                entry["value"] = value
            elif element["type"] in ("static_select", "radio_buttons"):
                entry["selected_option"] = _option(element, value) if value is not None else None
            elif element["type"] == "checkboxes":
                entry["selected_options"] = [_option(element, v) for v in (value or [])]
            elif element["type"] == "users_select":
                entry["selected_user"] = value
            elif element["type"] == "multi_users_select":
                entry["selected_users"] = list(value or [])
            elif element["type"] == "datepicker":
                entry["selected_date"] = value
            else:
                entry["value"] = value
            state[block["block_id"]] = {element["action_id"]: entry}
        unknown = set(values) - {
            b["label"]["text"] for b in view.get("blocks", []) if b.get("type") == "input"
        }
        if unknown:
            raise AssertionError(f"no inputs labelled {sorted(unknown)} in the modal")
        payload = {
            "type": "view_submission",
            "team": {"id": "T0TEAM"},
            "user": {"id": user, "username": user.lower(), "team_id": "T0TEAM"},
            "api_app_id": "A0CONFIDE",
            "trigger_id": f"trigger.{next(_ids)}",
            "view": {**view, "id": view.get("id", "V0"), "state": {"values": state}},
        }
        return await self.interact(payload)

    # ---- events --------------------------------------------------------------------------------
    async def event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None
    ) -> tuple[int, Any]:
        body = json.dumps(
            {
                "token": "legacy",
                "team_id": "T0TEAM",
                "api_app_id": "A0CONFIDE",
                "type": "event_callback",
                "event_id": event_id or f"Ev{next(_ids):08d}",
                "event_time": int(time.time()),
                "event": event,
            }
        )
        headers = (
            {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"} if retry_num else {}
        )
        return await self.post(body, "application/json", headers)


def _blocks_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = message.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else blocks


def find_button(
    blocks: list[dict[str, Any]], label: str, block_id: str | None = None
) -> tuple[str, dict[str, Any]] | None:
    for block in blocks:
        if block_id is not None and block.get("block_id") != block_id:
            continue
        candidates = list(block.get("elements", [])) if block.get("type") == "actions" else []
        if block.get("accessory"):
            candidates.append(block["accessory"])
        for element in candidates:
            if element.get("type") == "button" and element["text"]["text"] == label:
                return block.get("block_id", "b"), element
    return None


def _initial_state(element: dict[str, Any]) -> dict[str, Any]:
    """What Slack sends for an input the person did not touch."""
    kind = element["type"]
    if kind in ("static_select", "radio_buttons"):
        return {"selected_option": element.get("initial_option")}
    if kind == "checkboxes":
        return {"selected_options": list(element.get("initial_options") or [])}
    if kind == "users_select":
        return {"selected_user": element.get("initial_user")}
    if kind == "multi_users_select":
        return {"selected_users": list(element.get("initial_users") or [])}
    if kind == "datepicker":
        return {"selected_date": element.get("initial_date")}
    return {"value": element.get("initial_value")}


def _option(element: dict[str, Any], wanted: str) -> dict[str, Any]:
    for option in element.get("options", []):
        if wanted in (option["text"]["text"], option["value"]):
            return option
    raise AssertionError(f"no option {wanted!r} in {element.get('action_id')}")
