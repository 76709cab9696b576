"""The status line names the language of the sentence being spoken."""

from __future__ import annotations

from server.app import Server
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.player import FakePlayer
from tests.helpers.tui_app import ask, server_app
from tests.helpers.waiting import wait_for
from tui.widgets.status_line import StatusLine

ANSWER = "今天天气很好，我们去公园散步吧。The weather is lovely, so let us walk to the park."


async def test_the_status_line_follows_the_spoken_language(
    fake_llm: FakeLLM, speaking_server: Server
) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER)))
    app = server_app(speaking_server, FakePlayer(speed=1.0))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected", what="connected")
        await ask(pilot, app, "weather?")
        status = app.query_one(StatusLine)
        await wait_for(pilot, lambda: status.language == "cmn", what="Mandarin spoken")
        assert "espeak · Mandarin" in str(status.render())
        await wait_for(pilot, lambda: status.language == "en", what="English spoken")
        await wait_for(pilot, lambda: app.state == "idle", what="answer played", timeout=30)
        assert status.language == "" and "Mandarin" not in str(status.render())
