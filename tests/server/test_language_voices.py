"""Choosing the voice per language: server settings, flag, environment and session.update."""

from __future__ import annotations

import logging

import pytest

from server import protocol as p
from server.cli import load_settings
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.client import connected
from tests.helpers.server import ServerFactory

pytestmark = pytest.mark.timeout(120)

CHINESE = "你好，今天天气很好。"


def test_a_flag_or_variable_gives_language_voice_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    flag = load_settings(["--language-voices", "cmn=yue, ru=ru"])
    assert flag.tts.language_voices == {"cmn": "yue", "ru": "ru"}
    monkeypatch.setenv("TALKTERM_LANGUAGE_VOICES", "ja=ja")
    assert load_settings([]).tts.language_voices == {"ja": "ja"}
    with pytest.raises(ValueError, match="language=voice"):
        load_settings(["--language-voices", "cmn"])


async def test_server_and_session_choose_the_voice_per_language(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    server = await start_server(language_voices={"cmn": "yue"})
    fake_llm.enqueue(*(Reply(chunks=chunk_text(CHINESE)) for _ in range(2)))
    async with connected(server.ws_url, extensions=True) as client:
        assert client.session["session"]["talkterm"]["language_voices"] == {"cmn": "yue"}
        offered = client.session["session"]["talkterm"]["languages"]
        first = await client.answer("Hi")
        update = {"talkterm": {"language_voices": {"cmn": "cmn", "ru": "ru"}}}
        await client.send({"type": p.SESSION_UPDATE, "session": update})
        updated = await client.expect(p.SESSION_UPDATED)
        second = await client.answer("Again")
    assert [s["voice"] for s in first.of(p.AUDIO_SEGMENT)] == ["yue"]
    assert updated["session"]["talkterm"]["language_voices"] == {"cmn": "cmn", "ru": "ru"}
    # Every language with a voice is offered, with the voice that speaks it now.
    assert offered["cmn"] == {
        "voice": "yue",
        "automatic": "cmn-latn-pinyin",
        "voices": ["cmn", "cmn-latn-pinyin", "yue"],
    }
    assert {"en", "de", "ja", "ru", "th"} <= offered.keys()
    assert updated["session"]["talkterm"]["languages"]["cmn"]["voice"] == "cmn"
    assert [s["voice"] for s in second.of(p.AUDIO_SEGMENT)] == ["cmn"]
    assert len(second.audio) > 0


@pytest.mark.parametrize(
    ("choice", "param"),
    [
        ({"cmn": "xx-nobody"}, "session.talkterm.language_voices.cmn"),
        ({"Chinese!": "cmn"}, "session.talkterm.language_voices"),
        ({"cmn": ""}, "session.talkterm.language_voices.cmn"),
        (["cmn"], "session.talkterm.language_voices"),
    ],
)
async def test_a_wrong_language_voice_is_refused_and_the_session_keeps_its_own(
    start_server: ServerFactory, choice: object, param: str
) -> None:
    server = await start_server()
    async with connected(server.ws_url, extensions=True) as client:
        update = {"talkterm": {"language_voices": {"ru": "ru"}}}
        await client.send({"type": p.SESSION_UPDATE, "session": update})
        await client.expect(p.SESSION_UPDATED)
        bad = {"talkterm": {"language_voices": choice}}
        await client.send({"type": p.SESSION_UPDATE, "session": bad})
        error = (await client.expect(p.ERROR))["error"]
        kept = await client.expect(p.SESSION_UPDATED)  # follows the error of each bad field
        # null goes back to the automatic choice.
        reset = {"talkterm": {"language_voices": {"ru": None}}}
        await client.send({"type": p.SESSION_UPDATE, "session": reset})
        after = await client.expect(p.SESSION_UPDATED)
    assert error["param"] == param
    assert kept["session"]["talkterm"]["language_voices"] == {"ru": "ru"}
    assert after["session"]["talkterm"]["language_voices"] == {}


async def test_an_unknown_configured_voice_is_logged_and_left_out(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        server = await start_server(language_voices={"cmn": "xx-nobody", "ru": "ru"})
    assert "cmn=xx-nobody" in caplog.text
    async with connected(server.ws_url, extensions=True) as client:
        assert client.session["session"]["talkterm"]["language_voices"] == {"ru": "ru"}
