async def test_help_command(confide):
    status, body = await confide.slack.command("U0EMP01", "/access", "help")
    assert status == 200
    assert "/access request" in body["text"]
