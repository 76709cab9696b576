"""Replay the hand-picked bad frames of bad_frames.jsonl against one server.

One JSON object per line:

- ``name``: the test id;
- ``frame``: a string (sent as a text frame), ``{"base64": ..., "opcode": "text"|"binary"}``
  for bytes (text with invalid UTF-8 too; binary is the default), or
  ``{"repeat": s, "times": n, "prefix": ..., "suffix": ..., "opcode": ...}`` for huge
  frames, where prefix and suffix may be such specs themselves;
- ``expect``: the error code the frame must get (exactly one ``error``),
  ``close:1009`` for a frame over the size limit, or ``ok`` for a frame the
  session accepts: no error, the event types in ``answers``, each echoing
  ``echo`` (the instructions or item text) unchanged;
- ``event_id``: the id the error must echo (a string or a repeat spec; default null);
- ``before``: frames sent first, each answered without an error (state the frame needs);
- ``xfail``: a known server bug, with what happens instead (the test is a strict xfail).

After every frame the same session must still complete a normal turn; after a
close a fresh session takes over.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from websockets.exceptions import ConnectionClosed

from server import protocol as p
from server.app import Server
from tests.fakes.llm_upstream import DEFAULT_TEXT, FakeLLM
from tests.fuzz.wire import corpus_text, send_wire, wire_from_corpus
from tests.helpers.client import Client
from tests.helpers.server import make_settings

pytestmark = pytest.mark.asyncio(loop_scope="module")

CORPUS = Path(__file__).with_name("bad_frames.jsonl")
ENTRIES: list[dict[str, Any]] = [json.loads(line) for line in CORPUS.read_text().splitlines()]
_serials = itertools.count()


class Seat:
    """The corpus' one client, replaced after a close or an entry that failed."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client: Client | None = None
        self.clean = False

    async def take(self) -> Client:
        """The shared client, or a fresh one if the last entry left it in doubt."""
        if self.client is None or not self.clean:
            if self.client is not None:
                await self.client.close()
            self.client = await Client.open(self.url)
        self.clean = False
        return self.client

    async def replace(self) -> Client:
        """A fresh client after the server closed the old one."""
        self.client = None
        return await self.take()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def seat() -> AsyncIterator[Seat]:
    """One server (no speech) and its client seat for the whole corpus."""
    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):
            if name.startswith("TALKTERM_") or name == "OPENAI_API_KEY":
                env.delenv(name)
        async with FakeLLM() as fake:
            config = make_settings(llm_base_url=fake.base_url, llm_model="fake-model", tts="none")
            async with Server(config) as server:
                seat = Seat(server.ws_url)
                yield seat
                if seat.client is not None:
                    await seat.client.close()


def _param(entry: dict[str, Any]) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=entry["xfail"])] if "xfail" in entry else []
    return pytest.param(entry, id=entry["name"], marks=marks)


@pytest.mark.parametrize("entry", [_param(e) for e in ENTRIES])
async def test_bad_frame(seat: Seat, entry: dict[str, Any]) -> None:
    client = await seat.take()
    for frame in entry.get("before", []):
        await client.send(frame)
    await send_wire(client, wire_from_corpus(entry["frame"]))
    if entry["expect"].startswith("close:"):
        await _expect_close(client, int(entry["expect"].removeprefix("close:")))
        client = await seat.replace()
    else:
        _check_answer(entry, await _answers(client))
    got = await client.answer("Still there?", timeout=10)
    assert got.done["status"] == "completed" and got.text() == DEFAULT_TEXT
    seat.clean = True


async def _answers(client: Client) -> list[dict[str, Any]]:
    """Everything the session sends up to the answer to a sentinel frame."""
    sentinel = f"corpus-sentinel-{next(_serials)}"
    await client.send({"type": "corpus.sentinel", "event_id": sentinel})
    got: list[dict[str, Any]] = []
    while True:
        event = await client.recv(timeout=5)
        assert isinstance(event, dict), f"unexpected binary frame {event!r}"
        if event["type"] == p.ERROR and event["error"]["event_id"] == sentinel:
            return got
        got.append(event)


def _check_answer(entry: dict[str, Any], got: list[dict[str, Any]]) -> None:
    """Exactly one error, with the expected code and echo; ``before`` frames answered."""
    errors = [e["error"] for e in got if e["type"] == p.ERROR]
    others = [e["type"] for e in got if e["type"] != p.ERROR]
    before = [p.ITEM_ADDED, p.ITEM_DONE] * len(entry.get("before", []))
    if entry["expect"] == "ok":
        assert not errors and others == before + entry["answers"], _brief(got)
        for event in got[len(before) :]:
            assert _echoed(event) == entry["echo"], event
        return
    assert [e["code"] for e in errors] == [entry["expect"]], _brief(got)
    error = errors[0]
    want = entry.get("event_id")
    assert error["event_id"] == (None if want is None else corpus_text(want))
    assert error["type"] == "invalid_request_error" and error["message"]
    # A session.update with one bad field still applies the rest: session.updated follows.
    assert others == before + entry.get("also", []), others


def _echoed(event: dict[str, Any]) -> Any:
    if event["type"] == p.SESSION_UPDATED:
        return event["session"]["instructions"]
    return event["item"]["content"][0]["text"]


async def _expect_close(client: Client, code: int) -> None:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await client.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code, closed.value


def _brief(events: list[dict[str, Any]]) -> list[str]:
    return [f"error[{e['error']['code']}]" if e["type"] == p.ERROR else e["type"] for e in events][
        :8
    ]
