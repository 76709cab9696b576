"""The app's parts on their own: settings, CLI, link, answer bookkeeping, transcript, companion."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import pytest
from textual.app import App, ComposeResult

from server import protocol as p
from tests.conftest import ServerFactory
from tests.fakes.llm_upstream import refused_url
from tests.tui.conftest import FakePlayer, server_app, wait_for
from tui.answer import Answer
from tui.app import make_app
from tui.cli import build_parser, main, setup_logging
from tui.companion import Companion, CompanionError, http_status
from tui.config import Settings, load_settings
from tui.connection import Connection, backoff_delay, translate
from tui.widgets.assistant_turn import AssistantTurn, find_sentence, plain_text
from tui.widgets.status_line import StatusLine
from tui.widgets.transcript import LIVE_TURNS, OlderTurns, TranscriptView, TurnRecord


def test_flags_win_over_env_over_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        'server = "ws://file:1/v1/realtime"\naudio_device = "file"\ntoken = "from-file"\n'
        '[keymap]\nstop = "f8"\n'
    )
    monkeypatch.setenv("TALKTERM_AUDIO_DEVICE", "env")
    settings = load_settings({"server": None}, config)
    assert settings.server == "ws://file:1/v1/realtime"  # file (no flag, no env)
    assert settings.audio_device == "env"  # env over file
    assert settings.keymap == {"stop": "f8"}
    assert "from-file" not in repr(settings) and settings.token_value == "from-file"
    assert load_settings({"audio_device": "flag"}, config).audio_device == "flag"
    assert load_settings({}, tmp_path / "missing.toml").server is None  # defaults


def test_the_config_file_lives_in_xdg_config_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "talkterm").mkdir()
    (tmp_path / "talkterm" / "config.toml").write_text("text_only = true\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    settings = load_settings()
    assert settings.text_only is True
    assert settings.log_path == tmp_path / "state" / "talkterm" / "talkterm.log"


def test_cli_explains_every_option_and_rejects_bad_settings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = build_parser().format_help()
    for option in ("--server", "--token", "--audio-device", "--list-devices", "--text-only"):
        assert option in text
    # http:// is a server URL too now (HTTP streaming fallback); ftp:// is not.
    assert main(["--server", "ftp://127.0.0.1:1"]) == 2
    assert "ws://, wss://" in capsys.readouterr().err


def test_backoff_grows_is_capped_and_jittered() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(n, 15.0, rng) for n in range(12)]
    assert all(0 < d <= 15.0 for d in delays)
    assert delays[0] < 1.0 and max(delays[-4:]) > 7.0
    assert len({round(backoff_delay(5, 15.0, rng), 3) for _ in range(5)}) > 1


def test_server_frames_become_typed_messages() -> None:
    event = {"type": p.TRANSCRIPT_DELTA, "response_id": "r", "delta": "Hi", "seq": 7}
    assert translate(p.encode(event)) == (Connection.TextArrived("r", "Hi"), 7)
    frame = p.encode_audio_frame({"type": p.AUDIO_DELTA, "response_id": "r", "seq": 8}, b"\1\2")
    assert translate(frame) == (Connection.AudioArrived("r", b"\1\2"), 8)
    error, _ = translate(p.encode(p.error_event("upstream_timeout", "Too slow.")))
    assert error == Connection.ServerError("upstream_timeout", "Too slow.")
    done = {"type": p.RESPONSE_DONE, "response": {"id": "r", "status": "failed"}}
    assert translate(p.encode(done))[0] == Connection.ResponseFinished("r", "failed", {})
    assert translate(p.encode({"type": p.SESSION_UPDATED, "session": {}})) == (None, None)
    with pytest.raises(p.ProtocolError):
        translate(b"not a frame")


def test_answer_bookkeeping() -> None:
    answer = Answer(AssistantTurn(), generation=3, voice=True)
    assert answer.owns("r1") and not answer.owns("r2")
    answer.add_segment(0.0, 0, 10)
    answer.add_segment(900.0, 10, 30)
    spans = [answer.span_at(ms) for ms in (0, 899, 900, 5000)]
    assert spans == [(0, 10), (0, 10), (10, 30), (10, 30)]
    assert answer.stop_events(1234.9) == [{"type": p.RESPONSE_CANCEL, "response_id": "r1"}]
    answer.audio_seen, answer.item_id, answer.done = True, "item_1", True
    assert answer.pause_events() == []
    assert answer.stop_events(1234.9) == [
        {"type": p.ITEM_TRUNCATE, "item_id": "item_1", "content_index": 0, "audio_end_ms": 1234}
    ]
    assert not answer.finished_playing(buffered_ms=20.0)
    answer.audio_fed = True
    assert answer.finished_playing(buffered_ms=0.0)


def test_the_spoken_sentence_is_found_in_the_rendered_text() -> None:
    assert plain_text("To make **tea**, boil `water`.\n- see [docs](http://x)") == (
        "To make tea, boil water. see docs"
    )
    shown = "Steep for four minutes. Then pour."
    assert find_sentence(shown, "Then pour.") == (24, 34)
    assert find_sentence(shown, "Steep for four minutes. Pour it") == (0, 23)
    assert find_sentence(shown, "Nothing like it") is None


class TranscriptHost(App[None]):
    def compose(self) -> ComposeResult:
        yield TranscriptView()


async def test_old_turns_fold_away_and_come_back_a_page_at_a_time() -> None:
    app = TranscriptHost()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TranscriptView)
        records = [
            TurnRecord("user" if i % 2 == 0 else "assistant", f"turn {i}") for i in range(60)
        ]
        await view.load(records)
        await pilot.pause()
        assert len(view.turns) == LIVE_TURNS and len(view.older) == 60 - LIVE_TURNS
        assert "36 earlier turns" in str(app.query_one(OlderTurns).content)
        await view.unfold()
        await pilot.pause()
        assert len(view.turns) == LIVE_TURNS + 12 and len(view.older) == 24
        await view.add_user("new question")
        assert len(view.turns) == LIVE_TURNS and view.older[-1].text == "turn 36"


async def test_companion_starts_answers_healthz_and_stops() -> None:
    companion = await Companion.start(extra_env={"tts": "none", "probe_local": "false"})
    try:
        assert companion.url.startswith("ws://127.0.0.1:")
        health = companion.url.replace("ws://", "http://").replace("/v1/realtime", "/healthz")
        assert await http_status(health) == 200
    finally:
        await companion.stop()
    assert not companion.alive
    assert await http_status(health) is None


async def test_companion_failure_is_reported_in_plain_words() -> None:
    with pytest.raises(CompanionError, match=r"exited \(code 2\)"):
        await Companion.start(extra_env={"tts": "no-such-engine", "probe_local": "false"})


async def test_the_token_never_reaches_the_log(start_server: ServerFactory, tmp_path: Path) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    log_path = setup_logging(Settings(log_file=tmp_path / "talkterm.log", log_level="DEBUG"))
    try:
        server = await start_server(tts="none", token="s3cret-token-value")
        app = server_app(server, FakePlayer(), token="s3cret-token-value")
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.link_state == "connected")
    finally:
        root.handlers[0].close()
        root.handlers[:], root.level = saved
    text = log_path.read_text()
    assert "Authorization: Bearer ***" in text  # websockets logs the header at DEBUG…
    assert "s3cret-token-value" not in text  # …but never the token itself


async def test_an_unreachable_server_is_said_in_plain_words() -> None:
    url = (await refused_url()).replace("http://", "ws://").replace("/v1", "/v1/realtime")
    app = make_app(Settings(server=url, reconnect_max_delay=0.5), player=FakePlayer())
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "reconnecting")
        status = app.query_one(StatusLine)
        assert "connection refused" in status.error and status.link_detail.startswith("in ")
        assert app.check_action("start", ()) is None


async def test_a_companion_that_dies_is_started_again() -> None:
    settings = Settings(companion={"tts": "none", "probe_local": "false"}, reconnect_max_delay=0.5)
    app = make_app(settings, player=FakePlayer())
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected", timeout=20)
        endpoint = app.link._endpoint  # type: ignore[attr-defined]
        first = endpoint.companion
        first.process.kill()
        await wait_for(pilot, lambda: app.link_state == "reconnecting")
        await wait_for(pilot, lambda: app.link_state == "connected", timeout=20)
        second = endpoint.companion
        assert second is not first and second.alive
    assert not second.alive  # quitting stopped it
