"""Hostile text in any script: bounded time, speech or silence, never a crash."""

from __future__ import annotations

import pytest

from server import protocol as p
from server.app import Server
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.client import connected
from tests.helpers.server import ServerFactory

pytestmark = pytest.mark.timeout(180)

FINE = "Still here. Everything works."


@pytest.mark.parametrize(
    ("answer", "languages"),
    [
        ("😀" * 10_000 + ".", set()),
        ("a中" * 1_000 + ".", {"en"}),  # a script change at every character: one voice
        ("\u202bשלום עולם\u202c. \u200fمرحبا بالعالم\u200f.", {"he", "ar"}),
        ("👨\u200d👩\u200d👧 family. क\u200dष\u200c नमस्ते।", {"en", "hi"}),
    ],
    ids=["emoji", "script-every-char", "right-to-left", "zero-width-joiners"],
)
async def test_hostile_text_is_spoken_or_skipped_and_the_session_goes_on(
    fake_llm: FakeLLM, server: Server, answer: str, languages: set[str]
) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(answer, size=64)), Reply(chunks=chunk_text(FINE)))
    async with connected(server.ws_url, extensions=True) as client:
        got = await client.answer("Go", timeout=60)
        after = await client.answer("Again")
    assert got.done["status"] == "completed" and got.of(p.ERROR) == []
    assert {s["language"] for s in got.of(p.AUDIO_SEGMENT)} == languages
    assert (len(got.audio) > 0) == bool(languages)
    assert after.done["status"] == "completed" and len(after.audio) > 0


async def test_a_megabyte_of_one_han_character_streams_and_stops_on_cancel(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    server = await start_server(tts="piper")
    han = "中" * 1_000_000
    fake_llm.enqueue(Reply(chunks=chunk_text(han, size=4096)), Reply(chunks=chunk_text(FINE)))
    async with (
        connected(server.ws_url, extensions=True) as client,
        connected(server.ws_url, extensions=True) as bystander,
    ):
        await client.ask("Go")
        got = await client.read_until(p.AUDIO_DELTA, timeout=60)
        segment = got.of(p.AUDIO_SEGMENT)[0]
        assert (segment["language"], len(segment["text"])) == ("cmn", 100)  # spaceless bound
        fake_llm.enqueue(Reply(chunks=chunk_text(FINE)))
        other = await bystander.answer("Meanwhile", timeout=60)
        await client.send({"type": p.RESPONSE_CANCEL})
        await client.collect(got, timeout=60)
        after = await client.answer("Again", timeout=60)
    assert other.done["status"] == "completed" and len(other.audio) > 0
    assert got.done["status"] == "cancelled"
    assert after.done["status"] == "completed" and after.text() == FINE


async def test_a_language_no_voice_reads_is_shown_with_one_notice_a_session(
    fake_llm: FakeLLM, server: Server
) -> None:
    # espeak-ng has no Khmer voice, and no Piper voice is installed for it.
    answer = "ភ្នំពេញជាទីក្រុង។ Hello there. ភ្នំពេញធំ។"
    fake_llm.enqueue(*(Reply(chunks=chunk_text(answer)) for _ in range(3)))
    async with connected(server.ws_url, extensions=True) as client:
        got = await client.answer("Khmer?")
        again = await client.answer("Khmer again?")
    async with connected(server.ws_url, extensions=True) as other:
        elsewhere = await other.answer("Khmer in another session?")
    assert got.text() == answer and got.done["status"] == "completed"
    assert not got.of(p.ERROR)  # a notice, not an error
    notices = got.of(p.NOTICE)
    assert [n["code"] for n in notices] == [p.NO_VOICE_FOR_LANGUAGE]
    assert "'km'" in notices[0]["message"]
    assert [s["language"] for s in got.of(p.AUDIO_SEGMENT)] == ["en"]
    # The same session is not told again; another session is told once for itself.
    assert again.text() == answer and again.of(p.NOTICE) == []
    assert [s["language"] for s in again.of(p.AUDIO_SEGMENT)] == ["en"]
    assert [n["code"] for n in elsewhere.of(p.NOTICE)] == [p.NO_VOICE_FOR_LANGUAGE]
