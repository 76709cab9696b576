"""Reading a Chat Completions SSE stream the plain way, for the HTTP tests."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Streamed:
    """What a streamed answer carried."""

    status: int
    events: list[Any] = field(default_factory=list)  # dicts, and "[DONE]"

    @property
    def chunks(self) -> list[dict[str, Any]]:
        """The chat.completion.chunk objects."""
        return [e for e in self.events if isinstance(e, dict) and "choices" in e]

    def deltas(self) -> list[dict[str, Any]]:
        """Every choice delta, in order."""
        return [c["choices"][0]["delta"] for c in self.chunks if c["choices"]]

    @property
    def text(self) -> str:
        """The text content, joined."""
        return "".join(d.get("content") or "" for d in self.deltas())

    @property
    def transcript(self) -> str:
        """The audio transcript, joined."""
        return "".join(d.get("audio", {}).get("transcript", "") for d in self.deltas())

    @property
    def audio(self) -> bytes:
        """The audio, decoded and joined."""
        return b"".join(base64.b64decode(d["audio"]["data"]) for d in self.deltas()
                        if "data" in d.get("audio", {}))


def parse_sse(raw: str) -> list[Any]:
    """The events of an SSE body: decoded JSON, or the literal [DONE]."""
    events: list[Any] = []
    for block in raw.split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data: "):
                data = line[len("data: "):]
                events.append(data if data == "[DONE]" else json.loads(data))
    return events


async def stream_chat(base_url: str, body: dict[str, Any], token: str | None = None) -> Streamed:
    """POST a streamed chat completion and read it to the end."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=20) as http, http.stream(
        "POST", f"{base_url}/v1/chat/completions", json=body | {"stream": True}, headers=headers
    ) as response:
        raw = (await response.aread()).decode()
    events = parse_sse(raw) if response.status_code == 200 else [json.loads(raw)]
    return Streamed(response.status_code, events)
