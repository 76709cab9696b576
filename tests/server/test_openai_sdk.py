"""Acceptance: the official openai SDK, unmodified, drives our server."""

from __future__ import annotations

import base64

from openai import AsyncOpenAI

from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text

ANSWER = "Hello from the fake upstream. It speaks in two sentences."


async def test_sdk_text_in_audio_out_cancel_and_second_turn(
    fake_llm: FakeLLM, start_server
) -> None:
    server = await start_server(token="sdk-token")
    client = AsyncOpenAI(
        api_key="sdk-token", websocket_base_url=server.ws_url.removesuffix("/realtime")
    )
    fake_llm.enqueue(
        Reply(chunks=chunk_text(ANSWER)),
        Reply(chunks=chunk_text(ANSWER * 20), delay=0.02),
        Reply(chunks=["Second turn."]),
    )
    async with client.realtime.connect(model="talkterm") as conn:
        await conn.session.update(
            session={
                "type": "realtime",
                "output_modalities": ["audio"],
                "instructions": "Be brief.",
            }
        )
        seen: list[str] = []
        transcript, audio = "", b""
        async for event in conn:
            seen.append(event.type)
            if event.type == "session.updated":
                await conn.conversation.item.create(
                    item={
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "Say hello"}],
                    }
                )
                await conn.response.create()
            elif event.type == "response.output_audio_transcript.delta":
                transcript += event.delta
            elif event.type == "response.output_audio.delta":
                audio += base64.b64decode(event.delta)
            elif event.type == "response.done":
                assert event.response.status == "completed"
                break
        assert transcript == ANSWER
        assert len(audio) > 24_000  # more than half a second of speech
        assert seen[0] == "session.created"

        # Cancel a long answer.
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Talk a lot"}],
            }
        )
        await conn.response.create()
        async for event in conn:
            if event.type == "response.output_audio_transcript.delta":
                await conn.response.cancel()
            if event.type == "response.done":
                assert event.response.status == "cancelled"
                break

        # A second full turn.
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Again"}],
            }
        )
        await conn.response.create(response={"output_modalities": ["text"]})
        text = ""
        async for event in conn:
            if event.type == "response.output_text.delta":
                text += event.delta
            if event.type == "response.done":
                assert event.response.status == "completed"
                break
        assert text == "Second turn."
    messages = fake_llm.requests[-1].json["messages"]
    assert messages[0] == {"role": "system", "content": "Be brief."}
    assert messages[1:3] == [
        {"role": "user", "content": "Say hello"},
        {"role": "assistant", "content": ANSWER},
    ]
