"""Pilot tests against the real server and the fake LLM: each key, each state change."""

from __future__ import annotations

from server.app import Server
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.player import FakePlayer
from tests.helpers.server import ServerFactory, sessions
from tests.helpers.texts import LONG
from tests.helpers.tui_app import Recorder, ask, server_app
from tests.helpers.waiting import stays, wait_for
from tui.link.websocket import Connection
from tui.widgets.assistant_turn import AssistantTurn, TurnNote
from tui.widgets.greeting import Greeting
from tui.widgets.status_line import StatusLine
from tui.widgets.transcript import UserTurn


def assistant_messages(fake_llm: FakeLLM) -> list[str]:
    """What the last chat request carried as assistant context."""
    messages = fake_llm.chat_requests[-1].json["messages"]
    return [m["content"] for m in messages if m["role"] == "assistant"]


async def test_idle_streaming_paused_streaming_stopped(
    fake_llm: FakeLLM, speaking_server: Server
) -> None:
    # ~13 s of upstream: still streaming when Stop comes, however slow a loaded machine is
    # (with 4 s the server sometimes finished first and the answer was "completed").
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG * 10), delay=0.02), Reply(chunks=["Sure."]))
    player = FakePlayer(speed=1.0)
    app = server_app(speaking_server, player)
    recorder = Recorder()
    async with app.run_test(size=(100, 30), message_hook=recorder) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected", what="connected")
        assert (app.state, app.check_action("pause", ()), app.check_action("stop", ())) == (
            "idle",
            None,
            None,
        )
        await ask(pilot, app, "tea?")
        assert app.query_one(UserTurn).prompt == "tea?"
        await wait_for(pilot, lambda: player.played_ms > 300, what="speech")
        assert app.state == "streaming"
        assert app.check_action("pause", ()) is True and app.check_action("resume", ()) is None

        await pilot.press("ctrl+o")
        assert app.state == "paused" and player.paused
        assert app.check_action("resume", ()) is True and app.check_action("pause", ()) is None
        await wait_for(pilot, lambda: recorder.of(Connection.ResponsePaused), what="paused ack")
        turn = app.query_one(AssistantTurn)
        assert turn.mark == "paused"
        shown_while_paused = turn.text

        await pilot.press("ctrl+r")
        assert app.state == "streaming" and not player.paused and turn.mark is None
        await wait_for(pilot, lambda: recorder.of(Connection.ResponseResumed), what="resume ack")
        await wait_for(pilot, lambda: len(turn.text) > len(shown_while_paused), what="more text")

        await pilot.press("ctrl+g")
        heard = player.calls[-1]
        assert heard[0] == "stop" and heard[1] > 300
        assert turn.mark == "stopped"
        await wait_for(pilot, lambda: app.state == "idle", what="idle after stop")
        done = recorder.of(Connection.ResponseFinished)
        assert done[-1].status == "cancelled"

        # The next turn's context holds only what was heard, not everything that was sent.
        await ask(pilot, app, "more")
        await wait_for(pilot, lambda: len(fake_llm.chat_requests) == 2, what="second request")
        remembered = assistant_messages(fake_llm)[0]
        assert remembered and LONG.startswith(remembered[:20])
        assert len(remembered) < len(turn.text)


async def test_late_audio_of_a_stopped_answer_is_never_played(
    fake_llm: FakeLLM, speaking_server: Server
) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG * 2), delay=0.005))
    player = FakePlayer(speed=1.0)
    app = server_app(speaking_server, player)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected")
        await ask(pilot, app, "go")
        await wait_for(pilot, lambda: "feed" in player.names(), what="audio")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.state == "idle")

        def fed_after_stop() -> bool:
            return "feed" in player.names()[player.names().index("stop") :]

        # Late audio is still on its way from the server: it must be dropped, not played.
        await stays(pilot, lambda: not fed_after_stop(), for_s=0.5, what="no audio after stop")


async def test_stop_while_paused(fake_llm: FakeLLM, speaking_server: Server) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG * 2), delay=0.02))
    player = FakePlayer(speed=1.0)
    app = server_app(speaking_server, player)
    recorder = Recorder()
    async with app.run_test(size=(100, 30), message_hook=recorder) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected")
        await ask(pilot, app, "tea?")
        await wait_for(pilot, lambda: player.played_ms > 100, what="speech")
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: recorder.of(Connection.ResponsePaused))
        assert app.check_action("stop", ()) is True
        await pilot.press("ctrl+g")
        assert app.query_one(AssistantTurn).mark == "stopped"
        await wait_for(pilot, lambda: app.state == "idle")
        assert recorder.of(Connection.ResponseFinished)[-1].status == "cancelled"
        assert [c for c in player.names() if c in ("pause", "stop")] == ["pause", "stop"]


async def test_answer_plays_to_the_end_and_the_highlight_follows_the_voice(
    fake_llm: FakeLLM, speaking_server: Server
) -> None:
    text = "The sky is blue. Grass is green today."
    fake_llm.enqueue(Reply(chunks=chunk_text(text)))
    player = FakePlayer(speed=0)  # the test moves the playback position by hand
    app = server_app(speaking_server, player)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected")
        await ask(pilot, app, "colours?")
        await wait_for(pilot, lambda: app.answer and len(app.answer.starts_ms) == 2, what="segs")
        answer = app.answer
        assert answer is not None
        turn = answer.turn
        await wait_for(pilot, lambda: turn.highlighted == "The sky is blue.", what="first")
        player.position = answer.starts_ms[1] + 10
        await wait_for(pilot, lambda: turn.highlighted == "Grass is green today.", what="second")
        await wait_for(pilot, lambda: answer.done and answer.audio_fed, what="all fed")
        assert app.state == "streaming"  # the voice is still speaking
        player.position = 1e9
        await wait_for(pilot, lambda: app.state == "idle", what="played to the end")
        assert turn.mark is None and turn.highlighted is None
        assert "mark_finished" in player.names()


async def test_text_only_toggle(fake_llm: FakeLLM, speaking_server: Server) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text("Just text. Nothing spoken.")))
    player = FakePlayer()
    app = server_app(speaking_server, player)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected" and app.audio_ok)
        await pilot.press("ctrl+t")
        assert app.voice is False and app.query_one(StatusLine).mode == "text"
        await wait_for(
            pilot,
            lambda: [s.config.modality for s in sessions(speaking_server)] == ["text"],
            what="session.update applied",
        )
        await ask(pilot, app, "hi")
        await wait_for(pilot, lambda: app.state == "idle" and app.answer is None, what="done")
        turn = app.query_one(AssistantTurn)
        assert turn.text == "Just text. Nothing spoken." and turn.mark is None
        assert "begin" not in player.names() and "feed" not in player.names()
        await pilot.press("ctrl+t")
        assert app.voice is True


async def test_new_prompt_during_an_answer_stops_it_first(
    fake_llm: FakeLLM, speaking_server: Server
) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG * 3), delay=0.02), Reply(chunks=["Second."]))
    player = FakePlayer(speed=1)
    app = server_app(speaking_server, player)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected")
        await ask(pilot, app, "first")
        await wait_for(pilot, lambda: app.answer and app.answer.turn.text, what="first text")
        await ask(pilot, app, "second")
        await wait_for(pilot, lambda: len(app.query(AssistantTurn)) == 2, what="second turn")
        first, second = app.query(AssistantTurn)
        assert first.mark == "stopped"
        assert [t.prompt for t in app.query(UserTurn)] == ["first", "second"]
        await wait_for(pilot, lambda: app.state == "idle", what="second answer done")
        assert second.text == "Second." and second.mark is None


async def test_upstream_failure_is_shown_and_the_app_stays_usable(
    fake_llm: FakeLLM, speaking_server: Server
) -> None:
    fake_llm.enqueue(
        Reply(status=500, body='{"error": {"message": "boom"}}'), Reply(chunks=["Ok."])
    )
    app = server_app(speaking_server, FakePlayer(speed=50))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected")
        await ask(pilot, app, "hi")
        await wait_for(pilot, lambda: app.state == "idle" and app.answer is None, what="failed")
        failed = app.query_one(AssistantTurn)
        assert failed.mark == "failed"
        status = app.query_one(StatusLine)
        assert status.error and "500" in status.error + str(failed.query_one(TurnNote).content)
        await ask(pilot, app, "again")
        await wait_for(pilot, lambda: len(app.query(AssistantTurn)) == 2)
        await wait_for(pilot, lambda: app.state == "idle" and app.answer is None)
        assert app.query(AssistantTurn)[-1].text == "Ok."
        assert status.error == ""


async def test_no_audio_device_means_text_only(fake_llm: FakeLLM, speaking_server: Server) -> None:
    fake_llm.enqueue(Reply(chunks=["Readable answer."]))
    player = FakePlayer(unavailable="No audio output device was found.")
    app = server_app(speaking_server, player)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected")
        await wait_for(pilot, lambda: app.query_one(StatusLine).audio_note)
        assert app.query_one(StatusLine).audio_note == "no audio device — text only"
        # The greeting, the first thing a newcomer reads, does not promise a voice.
        greeting = app.query_one(Greeting)
        await wait_for(pilot, lambda: "shown as text" in str(greeting.render()))
        assert "No audio output device was found" in str(greeting.render())
        assert "spoken by" not in str(greeting.render())
        assert app.check_action("toggle_mode", ()) is None
        await ask(pilot, app, "hi")
        await wait_for(pilot, lambda: app.state == "idle" and app.answer is None)
        assert app.query_one(AssistantTurn).text == "Readable answer."
        assert "feed" not in player.names()


async def test_server_restart_interrupts_the_answer_and_the_conversation_goes_on(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    server = await start_server(tts="none")
    port = server.port
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG * 4), delay=0.02))
    app = server_app(server, FakePlayer())
    recorder = Recorder()
    async with app.run_test(size=(100, 30), message_hook=recorder) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected")
        await ask(pilot, app, "talk")
        await wait_for(pilot, lambda: app.answer and app.answer.turn.text, what="text")
        await server.close()
        turn = app.query_one(AssistantTurn)
        # First it waits to resume the session…
        await wait_for(pilot, lambda: turn.mark == "interrupted", what="resuming mark")
        assert app.link_state == "reconnecting"
        assert app.query_one(StatusLine).link_detail.startswith("in ")
        # …but a restarted server no longer has it: the answer is interrupted for good.
        await start_server(tts="none", port=port)
        await wait_for(pilot, lambda: app.link_state == "connected", what="reconnected")
        await wait_for(pilot, lambda: app.state == "idle", what="answer ended")
        assert turn.mark == "interrupted" and "no longer" in turn.note
        assert len(recorder.of(Connection.Connected)) == 2
        assert recorder.of(Connection.SessionStarted)[-1].replaced
        heard = turn.text
        fake_llm.enqueue(Reply(chunks=["Back again."]))
        await ask(pilot, app, "still there?")
        await wait_for(pilot, lambda: app.state == "idle" and app.history[-1][1] == "Back again.")
        messages = fake_llm.chat_requests[-1].json["messages"]
        assert messages[-3:] == [
            {"role": "user", "content": "talk"},
            {"role": "assistant", "content": heard},
            {"role": "user", "content": "still there?"},
        ]


async def test_refused_token_is_final(start_server: ServerFactory) -> None:
    server = await start_server(tts="none", token="right-token")
    app = server_app(server, FakePlayer(), token="wrong-token")
    recorder = Recorder()
    async with app.run_test(size=(100, 30), message_hook=recorder) as pilot:
        await wait_for(pilot, lambda: app.link_state == "refused", what="refused")
        # Watched for longer than the capped backoff (0.5 s): no second attempt.
        await stays(
            pilot,
            lambda: (
                len(recorder.of(Connection.AuthRefused)) == 1 and not recorder.of(Connection.Lost)
            ),
            for_s=1.0,
            what="one refusal and no reconnecting",
        )
        assert len(recorder.of(Connection.AuthRefused)) == 1
        assert not recorder.of(Connection.Lost)
        status = app.query_one(StatusLine)
        # One state, "refused" (app and status line alike), shown to the person as "auth refused".
        assert status.link == app.link_state == "refused" and "HTTP 401" in status.error
        assert str(status.render()).startswith("● auth refused")
        assert "wrong-token" not in status.error
        assert app.check_action("start", ()) is None
