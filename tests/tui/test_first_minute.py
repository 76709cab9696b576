"""The first minute: a greeting that says what to do, and a status line that fits 80 columns."""

from __future__ import annotations

from typing import Any

from tests.helpers.tui_app import ask, scripted_app
from tests.helpers.waiting import stays, wait_for
from tui.link.websocket import Connection
from tui.widgets.greeting import Greeting
from tui.widgets.status_line import StatusLine

LONG_LLM = "qwen2.5-coder-32b-instruct-q4_k_m at http://gpu-box.example.internal:8080/v1"


async def test_the_greeting_says_what_to_do_and_goes_once_asked() -> None:
    app = scripted_app()
    async with app.run_test(size=(80, 24)) as pilot:
        greeting = app.query_one(Greeting)
        await wait_for(pilot, lambda: "fake-model" in str(greeting.render()), what="the LLM")
        text = str(greeting.render())
        assert "press Enter to send" in text and "ctrl+j" not in text  # keys as shown: ^j
        assert "^j adds a line" in text and "Esc stops an answer" in text
        assert "f5 pauses and resumes" in text and "^p lists every command" in text
        assert "Answers come from fake-model, spoken by espeak." in text
        assert greeting.display and greeting.region.height > 0

        await ask(pilot, app, "Hello?")
        await wait_for(pilot, lambda: not greeting.display, what="the greeting gone")
        await pilot.press("ctrl+g")  # the answer stops; the greeting stays gone
        await stays(pilot, lambda: not greeting.display, 0.3, what="the greeting gone")


async def test_the_demo_responder_says_how_to_get_a_real_llm() -> None:
    app = scripted_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected")
        label = "demo responder (no LLM configured)"
        app.post_message(Connection.SessionStarted(label, "none", demo=True))
        greeting = app.query_one(Greeting)
        await wait_for(pilot, lambda: "OPENAI_API_KEY" in str(greeting.render()), what="the hint")
        assert "start Ollama" in str(greeting.render())
        assert "demo LLM" in str(app.query_one(StatusLine).render())


async def test_the_status_line_is_one_line_at_80_columns() -> None:
    app = scripted_app(snapshot_mode=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected" and app.audio_ok)
        status = app.query_one(StatusLine)
        status.llm = LONG_LLM
        status.error = "The LLM endpoint answered HTTP 500 (server error). Try again in a moment."
        status.first_text_ms, status.first_audio_ms = 412.0, 655.0
        await wait_for(pilot, lambda: "✗ The LLM endpoint" in str(status.render()), what="shown")
        assert status.region.height == 1 and status.region.width == 80
        line = str(status.render())
        assert line.startswith("● connected │ idle │ ✗ The LLM endpoint")
        assert "gpu-box" not in line  # the address is in the details, not on the line
        # The details (its tooltip, and the palette's Status command) have it all, in full.
        details = status.details()
        assert LONG_LLM in details and "HTTP 500 (server error). Try again" in details
        assert "first text 412 ms · first audio 655 ms" in details
        assert status.tooltip == details


async def test_the_footer_fits_80_columns_with_quit() -> None:
    app = scripted_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected")
        # By CSS type name: Textual does not export FooterKey from a public module.
        await wait_for(pilot, lambda: len(app.query("FooterKey")) >= 7, what="the footer")
        footer: list[Any] = list(app.query("FooterKey"))
        keys = {str(key.description): key.region for key in footer}
        palette = keys.pop("palette")  # the footer's "^p palette", at the right
        assert list(keys) == ["Send", "Stop", "Talk", "Pause", "New", "Chats", "Quit"]
        assert all(region.right <= palette.x for region in keys.values())
        assert palette.right <= 80
