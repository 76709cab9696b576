"""The server as a person starts it: a process, a ready line, a clean SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import httpx

from server import protocol as p
from tests.fakes.llm_upstream import FakeLLM, Reply
from tests.helpers.client import Client, answer_once
from tests.helpers.server import http_get
from tests.helpers.server_process import ready_line, spawn


async def test_ready_line_health_and_graceful_sigterm(fake_llm: FakeLLM) -> None:
    proc = await spawn(
        "--port",
        "0",
        "--tts",
        "none",
        "--llm-base-url",
        fake_llm.base_url,
        "--llm-model",
        "m",
        "--token",
        "tok",
    )
    assert proc.stdout is not None
    ready = await ready_line(proc)
    assert ready["listening"].startswith("ws://127.0.0.1:") and ready["pid"] == proc.pid
    assert (await http_get(ready["listening"], "/healthz"))[0] == 200
    # The ready line names the HTTP API on the same port, an OpenAI base URL.
    assert ready["http"] == ready["listening"].replace("ws://", "http://").removesuffix("/realtime")
    async with httpx.AsyncClient(headers={"Authorization": "Bearer tok"}) as api:
        models = (await api.get(ready["http"] + "/models")).json()
    # The server's model first, then what the upstream lists besides.
    assert [m["id"] for m in models["data"]] == ["m", "fake-model"]

    client = await Client.open(ready["listening"], token="tok")
    fake_llm.enqueue(Reply(chunks=["word "] * 500, delay=0.02))
    await client.ask("talk")
    await client.read_until(p.TRANSCRIPT_DELTA)
    proc.send_signal(signal.SIGTERM)
    await fake_llm.wait_disconnect(timeout=3)  # the in-flight upstream request is closed
    assert await asyncio.wait_for(proc.wait(), 10) == 0
    _, err = await proc.communicate()
    assert b"tok" not in err.replace(b"token", b"")


async def test_debug_log_never_shows_the_token_or_keys(fake_llm: FakeLLM) -> None:
    env_key = "sk-live-NEVER-PRINT-ME-1234"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        "--port",
        "0",
        "--tts",
        "none",
        "--log-level",
        "DEBUG",
        "--llm-base-url",
        fake_llm.base_url,
        "--llm-model",
        "m",
        "--token",
        "tok-SECRET-99",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "TALKTERM_LLM_API_KEY": env_key, "TALKTERM_PROBE_LOCAL": "false"},
    )
    assert proc.stdout is not None
    ready = await ready_line(proc)
    fake_llm.enqueue(
        Reply(chunks=[], status=401, body=f'{{"error": {{"message": "bad key {env_key}"}}}}')
    )
    await answer_once(ready["listening"], "hi", token="tok-SECRET-99")
    proc.send_signal(signal.SIGTERM)
    _, err = await proc.communicate()
    assert b"Authorization" in err or b"authorization" in err  # DEBUG really logged headers
    assert b"tok-SECRET-99" not in err and env_key.encode() not in err


async def test_public_bind_without_token_is_refused() -> None:
    proc = await spawn("--host", "0.0.0.0", "--port", "0", "--tts", "none")
    _, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 2
    assert b"without a token" in err


async def test_help_lists_every_option() -> None:
    proc = await spawn("--help")
    out, _ = await proc.communicate()
    for flag in (
        "--host",
        "--port",
        "--token",
        "--llm-base-url",
        "--llm-model",
        "--tts",
        "--voice",
    ):
        assert flag.encode() in out
