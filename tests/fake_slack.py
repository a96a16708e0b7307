"""A fake Slack Web API on 127.0.0.1: records every call, answers like Slack, injects 429s and 5xx.

Also the way to try Confide without a workspace: `python -m tests.fake_slack` serves it on port 8765.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    via: str = "api"  # the URL prefix the caller used: lets a test tell replicas apart

    def __getitem__(self, key: str) -> Any:
        return self.args[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.args.get(key, default)

    @property
    def blocks(self) -> list[dict[str, Any]]:
        blocks = self.args.get("blocks") or (self.args.get("view") or {}).get("blocks") or []
        return json.loads(blocks) if isinstance(blocks, str) else blocks

    @property
    def view(self) -> dict[str, Any]:
        view = self.args.get("view") or {}
        return json.loads(view) if isinstance(view, str) else view

    @property
    def text(self) -> str:
        """The fallback text plus every text in the blocks: what a reader sees."""
        return self.args.get("text", "") + "\n" + blocks_text(self.blocks)


def blocks_text(blocks: list[dict[str, Any]]) -> str:
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                out.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return "\n".join(out)


@dataclass
class Fault:
    status: int
    remaining: int
    retry_after: int | None = None


@dataclass
class FakeSlack:
    users: list[dict[str, Any]] = field(default_factory=list)
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    channel_members: dict[str, list[str]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    # How many calls of each method (as recorded: "chat.postMessage!429" apart) `calls` holds: a
    # benchmark waiting for thousands of deliveries asks often, and scanning `calls` cost it a core.
    recorded: Counter[str] = field(default_factory=Counter)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    down: bool = False  # every chat.* call answers 503 while True
    # Slack-style rate limit: at most this many calls of `rate_limited_methods` per one-second window;
    # above it, 429 with Retry-After until the window ends. None: no limit.
    rate_limit_per_second: int | None = None
    rate_limited_methods: tuple[str, ...] = ("chat.postMessage",)
    bot_user_id: str = "U0CONFIDE"
    url: str = ""
    _ts: Any = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    _window: list[float] = field(default_factory=lambda: [0.0, 0.0])  # [start, calls accepted in it]

    # ---- control -------------------------------------------------------------------------------
    def fail(self, method: str, status: int = 503, count: int = 1, retry_after: int | None = None) -> None:
        """The next `count` calls of `method` answer `status` (429 carries Retry-After)."""
        self.faults.setdefault(method, []).append(Fault(status, count, retry_after))

    def count(self, method: str) -> int:
        """len(calls_to(method)) without looking at every call."""
        return self.recorded[method]

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        self.recorded[call.method] += 1

    def calls_to(self, method: str, **match: Any) -> list[Call]:
        return [c for c in self.calls if c.method == method and all(c.get(k) == v for k, v in match.items())]

    def messages_to(self, recipient: str) -> list[Call]:
        """chat.postMessage calls to a user (DM) or channel, in order."""
        return self.calls_to("chat.postMessage", channel=recipient)

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Poll until predicate() is truthy (deliveries are asynchronous); fail loudly otherwise."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting; recorded calls: {[c.method for c in self.calls]}")
            await asyncio.sleep(0.02)

    # ---- server --------------------------------------------------------------------------------
    async def start(self, port: int = 0) -> str:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_route("*", "/{via}/api/{method}", self._api)  # SLACK_API_URL=.../<name>/api/
        app.router.add_post("/response/{token}", self._response_url)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        actual = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{actual}"
        return self.url

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    def response_url(self, token: str = "r") -> str:
        return f"{self.url}/response/{token}"

    async def _read_args(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        if request.content_type == "application/json":
            return json.loads(raw or b"{}")
        args: dict[str, Any] = dict(parse_qsl(raw.decode()))
        args.update(request.query)
        return args

    async def _response_url(self, request: web.Request) -> web.Response:
        args = await self._read_args(request)
        self._record(Call("response_url", args))
        return web.Response(text="ok")

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        via = request.match_info.get("via", "api")
        args = await self._read_args(request)
        faults = self.faults.get(method) or []
        if faults:
            fault = faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                faults.pop(0)
            self._record(Call(f"{method}!{fault.status}", args, via))
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            body = {"ok": False, "error": "ratelimited" if fault.status == 429 else "fatal_error"}
            return web.json_response(body, status=fault.status, headers=headers)
        if self.down and method.startswith("chat."):
            self._record(Call(f"{method}!503", args, via))
            return web.json_response({"ok": False, "error": "service_unavailable"}, status=503)
        if method in self.rate_limited_methods and (wait := self._over_rate_limit()) is not None:
            self._record(Call(f"{method}!429", args, via))
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(wait)}
            )
        self._record(Call(method, args, via))
        return web.json_response(self._answer(method, args))

    def _over_rate_limit(self) -> int | None:
        """None when the call fits this second's allowance, else the whole seconds until the next window."""
        if self.rate_limit_per_second is None:
            return None
        now = asyncio.get_running_loop().time()
        if now - self._window[0] >= 1.0:
            self._window[:] = [now, 0.0]
        if self._window[1] >= self.rate_limit_per_second:
            return max(1, math.ceil(self._window[0] + 1.0 - now))
        self._window[1] += 1
        return None

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "user_id": self.bot_user_id,
                "bot_id": "B0CONFIDE",
                "team_id": "T0TEAM",
                "user": "confide",
                "team": "Example",
            }
        if method in ("chat.postMessage", "chat.update"):
            channel = args.get("channel", "")
            if channel[:1] in ("U", "W"):
                channel = "D" + channel[1:]
            ts = args.get("ts") or f"1700000000.{next(self._ts):06d}"
            return {"ok": True, "channel": channel, "ts": ts}
        if method.startswith("views."):
            view = args.get("view")
            view = json.loads(view) if isinstance(view, str) else (view or {})
            return {"ok": True, "view": {**view, "id": args.get("view_id") or f"V{next(self._ts):08d}"}}
        if method == "users.list":
            limit = int(args.get("limit") or 200)
            start = int(args.get("cursor") or 0)
            page = self.users[start : start + limit]
            cursor = str(start + limit) if start + limit < len(self.users) else ""
            return {"ok": True, "members": page, "response_metadata": {"next_cursor": cursor}}
        if method == "users.info":
            user = next((u for u in self.users if u["id"] == args.get("user")), None)
            return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}
        if method == "usergroups.users.list":
            return {"ok": True, "users": self.usergroups.get(args.get("usergroup", ""), [])}
        if method == "conversations.members":
            return {
                "ok": True,
                "members": self.channel_members.get(args.get("channel", ""), []),
                "response_metadata": {"next_cursor": ""},
            }
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(args.get("users", "X"))[1:]}}
        return {"ok": True}


def slack_user(
    user_id: str,
    name: str,
    *,
    guest: bool = False,
    bot: bool = False,
    deleted: bool = False,
    tz: str = "Europe/London",
) -> dict[str, Any]:
    return {
        "id": user_id,
        "name": name.lower(),
        "real_name": name,
        "deleted": deleted,
        "is_bot": bot,
        "is_restricted": guest,
        "tz": tz,
        "profile": {"real_name": name, "display_name": name},
    }


if __name__ == "__main__":  # pragma: no cover - a manual playground

    async def _main() -> None:
        fake = FakeSlack(users=[slack_user("U0ADMIN01", "Ada Admin")])
        print("fake Slack at", await fake.start(8765) + "/api/")
        await asyncio.Event().wait()

    asyncio.run(_main())
