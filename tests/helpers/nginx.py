"""Real nginx (Debian's nginx-light) as a reverse proxy on loopback, unprivileged.

``plain`` is nginx's default ``proxy_pass``: HTTP/1.0 to the backend, no Upgrade
header, so WebSocket cannot pass. ``upgrade`` adds the documented WebSocket lines.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

Mode = Literal["plain", "upgrade"]
_UPGRADE = """
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 1h;"""


def nginx_binary() -> str | None:
    """The nginx executable, if installed."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config(root: Path, port: int, backend: int, mode: Mode) -> str:
    """An nginx.conf for one proxy in ``root``: one process, nothing outside ``root``."""
    temps = "\n".join(
        f"    {kind}_temp_path {root}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
daemon off;
master_process off;
pid {root}/nginx.pid;
error_log {root}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log off;
{temps}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{backend};{_UPGRADE if mode == "upgrade" else ""}
        }}
    }}
}}
"""


@asynccontextmanager
async def nginx_proxy(backend_port: int, mode: Mode = "plain") -> AsyncIterator[str]:
    """Run nginx in front of ``backend_port``; yields its base URL (http://127.0.0.1:PORT)."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed (apt install nginx-light)")
    with tempfile.TemporaryDirectory(prefix="talkterm-nginx-") as tmp:
        root = Path(tmp)
        port = _free_port()
        (root / "nginx.conf").write_text(config(root, port, backend_port, mode))
        proc = await asyncio.create_subprocess_exec(
            binary, "-p", str(root), "-c", str(root / "nginx.conf"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await _wait_listening(port, proc, root)
            yield f"http://127.0.0.1:{port}"
        finally:
            if proc.returncode is None:
                proc.terminate()
                await proc.wait()


async def _wait_listening(port: int, proc: asyncio.subprocess.Process, root: Path) -> None:
    async with asyncio.timeout(10):
        while True:
            if proc.returncode is not None:
                log = (root / "error.log").read_text() if (root / "error.log").exists() else ""
                raise RuntimeError(f"nginx exited ({proc.returncode}): {log[-2000:]}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            return
