"""Arbitrary text to /nda and /confide through the real endpoint: always a 200 and a reply, never a
server error or a silent nothing."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Confide

PREFIXES = ["", "status ", "status", "help ", "audit ", "audit", "STATUS ", "status ²"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    command=st.sampled_from(["/nda", "/confide"]),
    user=st.sampled_from(["U0ADMIN01", "U0EMP01", "U0GUEST01"]),
    prefix=st.sampled_from(PREFIXES),
    text=st.text(max_size=80),
)
async def test_any_text_gets_a_reply(confide: Confide, command: str, user: str, prefix: str, text: str):
    status, body = await confide.slack.command(user, command, prefix + text)
    assert status == 200
    assert isinstance(body, dict) and body.get("text")
    assert "something went wrong" not in body["text"]
