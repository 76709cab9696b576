"""The server as a person starts it, with voice input: the ready line names the
recognizer, which loads after it; ``--stt none`` turns voice input off."""

from __future__ import annotations

import signal

import pytest

from tests.fakes.llm_upstream import FakeLLM
from tests.helpers.client import Client
from tests.helpers.server_process import clean_env, ready_line, spawn

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(("stt", "available"), [("faster-whisper", True), ("none", False)])
async def test_the_ready_line_and_session_say_whether_it_listens(
    fake_llm: FakeLLM, stt: str, available: bool
) -> None:
    proc = await spawn(
        "--port", "0", "--tts", "none", "--stt", stt,
        "--llm-base-url", fake_llm.base_url, "--llm-model", "m",
    )  # fmt: skip
    try:
        ready = await ready_line(proc)
        assert ready["stt"] == stt
        client = await Client.open(ready["listening"])
        assert client.session["session"]["talkterm"]["listen"]["available"] is available
        assert client.session["session"]["audio"]["input"]["turn_detection"]["type"] == (
            "server_vad"
        )
        await client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()


async def test_a_missing_model_says_why_it_cannot_listen(
    fake_llm: FakeLLM, tmp_path: object
) -> None:
    proc = await spawn(
        "--port", "0", "--tts", "none", "--llm-base-url", fake_llm.base_url, "--llm-model", "m",
        env=clean_env(TALKTERM_STT="faster-whisper", TALKTERM_WHISPER_MODEL_DIR=str(tmp_path)),
    )  # fmt: skip
    try:
        ready = await ready_line(proc)
        client = await Client.open(ready["listening"])
        listen = client.session["session"]["talkterm"]["listen"]
        assert listen["available"] is False and "model.bin" in listen["problem"]
        await client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()


def test_listen_settings_by_flat_and_nested_names(monkeypatch: pytest.MonkeyPatch) -> None:
    from server.config import Settings, stt_key

    monkeypatch.setenv("TALKTERM_STT_LANGUAGE", "en")
    monkeypatch.setenv("TALKTERM_STT__WHISPER__THREADS", "1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    settings = Settings(stt="openai", stt_model="whisper-large")
    assert settings.stt.engine == "openai" and settings.stt.language == "en"
    assert settings.stt.whisper.threads == 1 and settings.stt.openai.model == "whisper-large"
    assert stt_key(settings) == "sk-openai"  # OpenAI's own endpoint gets OPENAI_API_KEY
    elsewhere = Settings(stt="openai", stt_base_url="http://127.0.0.1:9/v1")
    assert stt_key(elsewhere) is None  # a third party never does
    monkeypatch.setenv("TALKTERM_STT_API_KEY", "sk-own")
    assert stt_key(Settings(stt_base_url="http://127.0.0.1:9/v1")) == "sk-own"


def test_a_server_language_no_recognizer_knows_stops_the_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from server.cli import main

    monkeypatch.setenv("TALKTERM_STT_LANGUAGE", "english")
    assert main(["--port", "0", "--stt", "none"]) == 2
    said = capsys.readouterr().err
    assert "invalid setting: stt language: 'english' is not a language code" in said
