"""POST /v1/chat/completions on the companion server: shapes, speech, errors, stop."""

from __future__ import annotations

import asyncio
import base64
import json
import os

import httpx

from server import protocol as p
from server.app import Server
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.server import ServerFactory
from tests.helpers.waiting import wait_for
from tests.http.sse import parse_sse, stream_chat

ANSWER = "Hello over HTTP. This answer has two sentences."
HISTORY = [{"role": "user", "content": "Say hello"}]
AUDIO = {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "pcm16"}}


async def test_streamed_text_in_openai_chunk_shape(fake_llm: FakeLLM, server: Server) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER)))
    body = {"model": "x", "messages": HISTORY, "stream_options": {"include_usage": True}}
    got = await stream_chat(server.http_url, body)
    assert got.status == 200
    assert got.text == ANSWER
    assert got.events[-1] == "[DONE]"
    first, *_, finish, usage = got.chunks
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"][0]["delta"]["role"] == "assistant"
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] > 0
    assert len({c["id"] for c in got.chunks}) == 1
    # Stateless: the client's history went upstream, after the server's system prompt.
    sent = fake_llm.chat_requests[-1].json["messages"]
    assert sent[0]["role"] == "system" and sent[1:] == HISTORY


async def test_the_answer_cap_goes_upstream(fake_llm: FakeLLM, server: Server) -> None:
    """max_completion_tokens caps the answer; without it the server's default applies."""
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER)), Reply(chunks=chunk_text(ANSWER)))
    capped = {"model": "x", "messages": HISTORY, "max_completion_tokens": 7}
    assert (await stream_chat(server.http_url, capped)).text == ANSWER
    assert fake_llm.chat_requests[-1].json["max_tokens"] == 7
    assert (await stream_chat(server.http_url, {"model": "x", "messages": HISTORY})).text == ANSWER
    assert fake_llm.chat_requests[-1].json["max_tokens"] == 1024
    async with httpx.AsyncClient(timeout=10) as http:
        bad = await http.post(
            f"{server.http_url}/v1/chat/completions",
            json={"model": "x", "messages": HISTORY, "max_tokens": 0},
        )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "max_tokens"


async def test_streamed_speech_carries_transcript_and_pcm(
    fake_llm: FakeLLM,
    server: Server,
) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER)))
    got = await stream_chat(server.http_url, {"model": "x", "messages": HISTORY} | AUDIO)
    assert got.status == 200
    assert got.transcript == ANSWER and got.text == ""
    # espeak-ng speaking two sentences: well over half a second of 24 kHz PCM16.
    assert len(got.audio) > p.PCM_RATE * p.PCM_SAMPLE_WIDTH // 2
    ids = {d["audio"]["id"] for d in got.deltas() if "audio" in d}
    assert len(ids) == 1
    # Speech starts before the text is over: the first clause is spoken early.
    kinds = ["data" if "data" in d.get("audio", {}) else "text" for d in got.deltas()]
    assert kinds.index("data") < len(kinds) - 1 - kinds[::-1].index("text")


async def test_streamed_wav_starts_with_a_riff_header(fake_llm: FakeLLM, server: Server) -> None:
    fake_llm.enqueue(Reply(chunks=["Short."]))
    wav = AUDIO | {"audio": {"voice": "alloy", "format": "wav"}}
    got = await stream_chat(server.http_url, {"model": "x", "messages": HISTORY} | wav)
    assert got.audio[:4] == b"RIFF" and got.audio[8:12] == b"WAVE"


async def test_whole_answer_with_mp3(fake_llm: FakeLLM, server: Server) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER)))
    mp3 = AUDIO | {"audio": {"voice": "alloy", "format": "mp3"}}
    async with httpx.AsyncClient(timeout=20) as http:
        r = await http.post(
            f"{server.http_url}/v1/chat/completions", json={"model": "x", "messages": HISTORY} | mp3
        )
    assert r.status_code == 200
    body = r.json()
    message = body["choices"][0]["message"]
    assert body["object"] == "chat.completion" and message["audio"]["transcript"] == ANSWER
    data = base64.b64decode(message["audio"]["data"])
    assert data[:3] == b"ID3" or data[0] == 0xFF  # an MP3 file: ID3 tag or frame sync


async def test_errors_are_openai_shaped(fake_llm: FakeLLM, start_server: ServerFactory) -> None:
    server = await start_server(token="tok")
    url = f"{server.http_url}/v1/chat/completions"
    auth = {"Authorization": "Bearer tok"}
    async with httpx.AsyncClient(timeout=10) as http:
        no_token = await http.post(url, json={"model": "x", "messages": HISTORY})
        bad_json = await http.post(
            url, content=b"{nope", headers=auth | {"content-type": "application/json"}
        )
        no_model = await http.post(url, json={"messages": HISTORY}, headers=auth)
        mp3_stream = await http.post(
            url,
            headers=auth,
            json={
                "model": "x",
                "messages": HISTORY,
                "stream": True,
                "modalities": ["text", "audio"],
                "audio": {"voice": "alloy", "format": "mp3"},
            },
        )
        unknown = await http.get(f"{server.http_url}/v1/nothing", headers=auth)
        fake_llm.enqueue(Reply(status=429, body='{"error": {"message": "slow down"}}'))
        limited = await http.post(url, json={"model": "x", "messages": HISTORY}, headers=auth)
    assert no_token.status_code == 401
    assert no_token.json()["error"]["code"] == "invalid_api_key"
    assert bad_json.status_code == 400
    assert bad_json.json()["error"]["type"] == "invalid_request_error"
    assert no_model.status_code == 400 and no_model.json()["error"]["param"] == "model"
    assert mp3_stream.status_code == 400 and mp3_stream.json()["error"]["param"] == "audio.format"
    assert unknown.status_code == 404 and "error" in unknown.json()
    assert limited.status_code == 429 and "message" in limited.json()["error"]


async def test_an_error_inside_a_started_stream_is_an_error_event(
    fake_llm: FakeLLM, server
) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER), fault="cut", cut_after=3))
    got = await stream_chat(server.http_url, {"model": "x", "messages": HISTORY})
    assert got.status == 200
    assert got.text  # some text came before the cut
    assert "error" in got.events[-1] and got.events[-1]["error"]["type"] == "server_error"
    assert "[DONE]" not in got.events


async def test_closing_the_stream_closes_the_upstream(fake_llm: FakeLLM, server: Server) -> None:
    fake_llm.enqueue(Reply(chunks=["word "] * 2000, delay=0.01))
    body = {"model": "x", "messages": HISTORY, "stream": True} | AUDIO
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream("POST", f"{server.http_url}/v1/chat/completions", json=body) as response,
    ):
        async for line in response.aiter_lines():
            if '"data"' in line:  # audio is flowing: synthesis is running
                break
    # Leaving the block closed the connection; the server must close its upstream request.
    await fake_llm.wait_disconnect(timeout=3)
    # And no espeak-ng is left behind for this answer, nor the request's own task.
    await _no_espeak_children()
    await wait_for(
        None,
        lambda: not _tasks_inside("ChatCompletions.__call__"),
        timeout=5,
        what="the request's task ended",
    )


def _tasks_inside(qualname: str) -> list[asyncio.Task[object]]:
    """Tasks whose chain of awaited coroutines passes through ``qualname``."""
    found = []
    for task in asyncio.all_tasks():
        coro: object = task.get_coro()
        while coro is not None:
            if getattr(coro, "__qualname__", "") == qualname:
                found.append(task)
                break
            coro = getattr(coro, "cr_await", None)
    return found


async def _no_espeak_children() -> None:
    me = str(os.getpid())
    async with asyncio.timeout(5):
        while True:
            proc = await asyncio.create_subprocess_exec(
                "pgrep", "-P", me, "espeak-ng", stdout=asyncio.subprocess.PIPE
            )
            out, _ = await proc.communicate()
            if not out.strip():
                return
            await asyncio.sleep(0.05)


async def test_http_1_0_as_nginx_sends_it(fake_llm: FakeLLM, server: Server) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER)))
    body = json.dumps({"model": "x", "messages": HISTORY, "stream": True}).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"POST /v1/chat/completions HTTP/1.0\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    raw = (await asyncio.wait_for(reader.read(), 10)).decode()
    writer.close()
    head, _, rest = raw.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200") and "text/event-stream" in head
    events = parse_sse(rest)
    assert events[-1] == "[DONE]"
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1]) == ANSWER


async def test_models_health_and_a_websocket_path_without_upgrade(server: Server) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        models = await http.get(f"{server.http_url}/v1/models")
        health = await http.get(f"{server.http_url}/healthz")
        plain = await http.get(f"{server.http_url}/v1/realtime")
    assert models.json()["data"][0]["id"] == "fake-model"
    assert health.status_code == 200 and health.text == "ok\n"
    assert plain.status_code == 426
