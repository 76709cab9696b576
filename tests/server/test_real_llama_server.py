"""Against a real OpenAI-compatible server: llama-cpp-python with a tiny babbling model.

The model (tests/helpers/tiny_gguf.py) is written in the set-up and never stops on its
own, so an uncapped answer fills the 512-token context — the case that used to leave a
conversation stuck, every next turn failing with "the stream was cut after 0 characters".
llama-cpp-python is built from source by ``scripts/bootstrap.sh test``; without it these
tests are skipped, saying so.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import AsyncOpenAI

from server import protocol as p
from server.app import Server
from tests.helpers.client import Client, Received
from tests.helpers.server import make_settings

if os.environ.get("CI"):
    # CI installs both (scripts/bootstrap.sh): there a missing server fails instead of skipping.
    import gguf  # noqa: F401
    import llama_cpp.server  # noqa: F401
else:
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is not installed")
    pytest.importorskip("gguf", reason="the gguf package is not installed")

from tests.helpers.tiny_gguf import write_tiny_model  # after the skips: it needs gguf

CONTEXT = 512
MODEL = "tiny-babbler"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on loopback; its /v1 base URL."""
    folder = tmp_path_factory.mktemp("llama")
    model = write_tiny_model(folder / "tiny.gguf")
    port = _free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
    command += ["--model_alias", MODEL, "--n_ctx", str(CONTEXT), "--n_threads", "1"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with (folder / "server.log").open("wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_up(proc, base_url, folder / "server.log")
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_until_up(proc: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base_url}/models", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("llama_cpp.server did not answer within 60 s")


@pytest.fixture
async def server(llama_server: str) -> AsyncIterator[Server]:
    """A talkterm server using the llama-cpp-python server, text only."""
    settings = make_settings(
        llm_base_url=llama_server, llm_model=MODEL, tts="none", read_timeout=30.0
    )
    async with Server(settings) as running:
        yield running


async def chat(server: Server) -> Client:
    """A text-only session with a short system prompt, taking notices as the app does."""
    client = await Client.open(server.ws_url, extensions=True)
    session = {"output_modalities": ["text"], "instructions": "Be brief."}
    await client.send({"type": p.SESSION_UPDATE, "session": session})
    await client.expect(p.SESSION_UPDATED)
    return client


async def turn(client: Client, text: str, **response: Any) -> Received:
    """Ask and read the whole answer (a context-filling answer takes a few seconds)."""
    await client.ask(text, **response)
    return await client.collect(timeout=120)


async def test_three_turns_after_a_context_filling_answer_all_succeed(server: Server) -> None:
    client = await chat(server)
    assert client.session["session"]["talkterm"]["models"] == [MODEL]
    filled = await turn(client, "Tell me everything.", max_output_tokens="inf")
    assert filled.done["status"] == "completed"
    assert filled.text().count(" la") > 300, "the babbler filled its context"
    for n in range(3):
        got = await turn(client, f"And then {n}?")
        assert got.done["status"] == "completed", got.of(p.ERROR)
        assert got.text().startswith(" la")
    # A notice, not an error: every Realtime client treats ``error`` as a failure.
    assert "context_full" in [e["code"] for e in filled.of(p.NOTICE)]
    assert filled.of(p.ERROR) == []
    await client.close()


async def test_the_openai_sdk_sees_every_turn_complete_and_no_error(server: Server) -> None:
    """The unmodified SDK, a context that fills, then turns that must leave turns out."""
    sdk = AsyncOpenAI(api_key="none", websocket_base_url=server.ws_url.removesuffix("/realtime"))
    seen: list[str] = []
    statuses: list[str] = []
    async with sdk.realtime.connect(model=MODEL) as conn:
        await conn.session.update(
            session={
                "type": "realtime",
                "output_modalities": ["text"],
                "instructions": "Be brief.",
                "max_output_tokens": "inf",
            }
        )
        for text in ("Tell me everything.", "And then?", "More?", "Again?"):
            await conn.conversation.item.create(
                item={
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": text}],
                }
            )
            await conn.response.create()
            async for event in conn:
                seen.append(event.type)
                if event.type == "response.done":
                    assert event.response.status is not None
                    statuses.append(event.response.status)
                    break
    assert statuses == ["completed"] * 4
    assert "error" not in seen
    # The context filled (the app, which asks for extensions, is told with a notice: the test
    # above), but a client that did not ask for them sees only OpenAI's own events.
    assert p.NOTICE not in seen


async def test_the_cap_is_forwarded(server: Server) -> None:
    client = await chat(server)
    got = await turn(client, "Just a little.", max_output_tokens=5)
    assert got.done["status"] == "completed"
    assert got.text() == " la" * 5
    await client.close()


async def test_tools_pass_through_to_the_real_server(server: Server) -> None:
    """llama-cpp-python takes the client's tools and tool_choice (its default chat format
    answers in text; the tiny model calls nothing): the answer streams as usual."""
    client = await chat(server)
    weather = {
        "type": "function",
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    update = {"tools": [weather], "tool_choice": "auto"}
    await client.send({"type": p.SESSION_UPDATE, "session": update})
    await client.expect(p.SESSION_UPDATED)
    got = await turn(client, "Weather?", max_output_tokens=5)
    assert got.done["status"] == "completed", got.of(p.ERROR)
    assert got.text() == " la" * 5
    await client.close()


async def test_a_message_too_long_for_the_context_is_refused_in_plain_words(
    server: Server,
) -> None:
    client = await chat(server)
    got = await turn(client, "word " * 400)  # 2000 bytes: ~2000 tokens of byte fallback
    assert got.done["status"] == "failed"
    message = got.of(p.ERROR)[-1]["error"]["message"]
    assert "too long for the model" in message
    # And the conversation is not stuck.
    after = await turn(client, "Short?", max_output_tokens=3)
    assert after.text() == " la" * 3, [e["error"] for e in after.of(p.ERROR)]
    await client.close()
