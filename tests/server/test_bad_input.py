"""Every kind of bad frame gets an error that names it; the session stays usable."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import ConnectionClosed

from server import protocol as p
from tests.fakes.llm_upstream import FakeLLM, Reply
from tests.helpers.client import Client

BAD_FRAMES: list[tuple[str, str | bytes, str]] = [
    ("invalid JSON", "{not json", "invalid_json"),
    ("JSON array", "[1, 2, 3]", "invalid_event"),
    ("JSON string", '"hello"', "invalid_event"),
    ("missing type", '{"event_id": "e1"}', "missing_type"),
    ("type not a string", '{"type": 42}', "invalid_type"),
    ("unknown type", '{"type": "response.explode"}', "unknown_event"),
    ("item not an object", '{"type": "conversation.item.create", "item": 5}', "invalid_type"),
    (
        "audio input of an odd byte count",
        json.dumps(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_audio", "audio": "AAAA"}],
                },
            }
        ),
        "invalid_audio_format",
    ),
    (
        "text not a string",
        json.dumps(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": 7}],
                },
            }
        ),
        "invalid_type",
    ),
    (
        "assistant role",
        json.dumps(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "input_text", "text": "x"}],
                },
            }
        ),
        "invalid_value",
    ),
    ("session not an object", '{"type": "session.update", "session": []}', "invalid_value"),
    (
        "bad modality",
        '{"type": "session.update", "session": {"output_modalities": ["smell"]}}',
        "invalid_value",
    ),
    (
        "bad audio format",
        '{"type": "session.update", "session": {"audio": {"output": {"format": '
        '{"type": "audio/flac"}}}}}',
        "invalid_value",
    ),
    (
        "binary_audio not bool",
        '{"type": "session.update", "session": {"talkterm": {"binary_audio": "yes"}}}',
        "invalid_value",
    ),
    ("response not an object", '{"type": "response.create", "response": 3}', "invalid_type"),
    ("binary frame not negotiated", b"\x00\x01binary", "binary_not_supported"),
    ("deep nesting", "[" * 100_000 + "]" * 100_000, "invalid_json"),
]


@pytest.mark.parametrize(("name", "frame", "code"), BAD_FRAMES, ids=[c[0] for c in BAD_FRAMES])
async def test_bad_frame_gets_error_and_session_survives(
    fake_llm: FakeLLM, client: Client, name: str, frame: str | bytes, code: str
) -> None:
    await client.send(frame)
    error = await client.expect(p.ERROR)
    assert error["error"]["code"] == code
    assert error["error"]["message"]
    fake_llm.enqueue(Reply(chunks=["Still here."]))
    assert (await client.answer("Are you ok?")).text() == "Still here."


async def test_error_names_the_offending_event(client: Client) -> None:
    await client.send({"type": "response.explode", "event_id": "evt_123"})
    error = await client.expect(p.ERROR)
    assert error["error"]["event_id"] == "evt_123"
    assert "response.explode" in error["error"]["message"]


async def test_invalid_utf8_text_frame(fake_llm: FakeLLM, client: Client) -> None:
    # websockets refuses to send invalid UTF-8 as text, so write the frame by hand.
    from websockets.frames import Frame, Opcode

    client.ws.protocol.send_frame(Frame(Opcode.TEXT, b'{"type": "\xff\xfe"}'))
    client.ws.send_data()
    error = await client.expect(p.ERROR)
    assert error["error"]["code"] == "invalid_utf8"
    fake_llm.enqueue(Reply(chunks=["Fine."]))
    assert (await client.answer("ok?")).text() == "Fine."


async def test_oversized_frame_closes_with_1009(server) -> None:
    client = await Client.open(server.ws_url)
    await client.send("x" * (p.MAX_FRAME_BYTES + 1))
    with pytest.raises(ConnectionClosed) as closed:
        await client.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    # The server itself carries on.
    other = await Client.open(server.ws_url)
    await other.close()


async def test_frame_just_under_the_limit_is_accepted(fake_llm: FakeLLM, client: Client) -> None:
    text = "a" * (p.MAX_FRAME_BYTES - 200)
    await client.send(p.user_text_item(text))
    done = await client.expect(p.ITEM_DONE)
    assert done["item"]["content"][0]["text"] == text
