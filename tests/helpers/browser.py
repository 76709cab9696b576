"""A real headless Chromium and a hostile page served from another loopback origin.

The page's server lives at ``http://evil.test:PORT`` (Chromium resolves evil.test to
127.0.0.2). It serves the page, takes the page's findings at ``POST /findings``, and
forwards every other request byte for byte to the talkterm server: what a DNS-rebinding
attack looks like from the server's side (the page's own name in ``Host``, no
``Origin`` on a same-origin GET).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

EVIL_NAME = "evil.test"
EVIL_ADDRESS = "127.0.0.2"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    f"--host-resolver-rules=MAP {EVIL_NAME} {EVIL_ADDRESS}",
)


def chromium_binary() -> str | None:
    """Debian's chromium, if installed (scripts/bootstrap.sh installs it for the tests)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


class AttackSite:
    """The hostile page's own server; ``findings`` is what the page reported."""

    def __init__(self, page: str, target_port: int) -> None:
        self._page = page.encode()
        self._target_port = target_port
        self.findings: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.forwarded_statuses: list[int] = []
        self._server: asyncio.Server | None = None

    @property
    def origin(self) -> str:
        """The page's origin, as a browser names it."""
        assert self._server is not None
        return f"http://{EVIL_NAME}:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> AttackSite:
        self._server = await asyncio.start_server(self._serve, EVIL_ADDRESS, 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = _content_length(head)
            body = await reader.readexactly(length) if length else b""
            path = head.split(b" ", 2)[1]
            if path == b"/":
                _answer(writer, b"text/html", self._page)
            elif path == b"/findings":
                if not self.findings.done():
                    self.findings.set_result(json.loads(body))
                _answer(writer, b"text/plain", b"thanks")
            else:
                await self._forward(head, body, reader, writer)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _forward(
        self,
        head: bytes,
        body: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """Pass the request on unchanged (but for Connection: close, so the browser's next
        request comes back here) and pipe the answer back."""
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target_port)
        if b"upgrade: websocket" not in head.lower():
            head = head[:-2] + b"Connection: close\r\n\r\n"
        up_writer.write(head + body)
        first = await up_reader.readline()
        self.forwarded_statuses.append(int(first.split()[1]))
        writer.write(first)
        pipes = [_pipe(up_reader, writer), _pipe(reader, up_writer)]
        await asyncio.wait([asyncio.ensure_future(p) for p in pipes], timeout=10)
        up_writer.close()


@contextlib.asynccontextmanager
async def chromium(url: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """Chromium showing ``url`` headless, with a fresh profile; killed on the way out."""
    binary = chromium_binary()
    assert binary is not None
    with tempfile.TemporaryDirectory(
        prefix="talkterm-chromium-", ignore_cleanup_errors=True
    ) as profile:
        proc = await asyncio.create_subprocess_exec(
            binary,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            url,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # its own group: the renderer and helpers go with it
        )
        try:
            yield proc
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def _answer(writer: asyncio.StreamWriter, kind: bytes, body: bytes) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: "
        + kind
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nConnection: close\r\n\r\n"
        + body
    )


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


def page_path() -> Path:
    """The hostile page (a template: TARGET is the talkterm server's host:port)."""
    return Path(__file__).with_name("hostile_page.html")
