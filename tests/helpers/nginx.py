"""Real nginx (Debian's nginx-light) as a reverse proxy on loopback, unprivileged.

``plain`` is nginx's default ``proxy_pass``: HTTP/1.0 to the backend, no Upgrade
header, so WebSocket cannot pass. ``upgrade`` adds the documented WebSocket lines.
``nginx_tls_proxy`` puts TLS in front, with a self-signed certificate for 127.0.0.1
made by openssl in the proxy's own directory (the client trusts it as its CA file).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
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
# nginx 1.22 (Debian 12) still defaults to TLS 1.2 at most; 1.23.4 on offer TLS 1.3 too.
_TLS = """
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate {root}/cert.pem;
        ssl_certificate_key {root}/key.pem;"""


def nginx_binary() -> str | None:
    """The nginx executable, if installed."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def self_signed(root: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1 (EC P-256, one day), in ``root``."""
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert),
         "-addext", "subjectAltName=IP:127.0.0.1",
         "-addext", "keyUsage=digitalSignature,keyCertSign",
         "-addext", "extendedKeyUsage=serverAuth"],
        check=True, capture_output=True,
    )
    return cert, key


def config(root: Path, port: int, backend: int, mode: Mode, tls: bool = False) -> str:
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
        listen 127.0.0.1:{port}{" ssl" if tls else ""};{_TLS.format(root=root) if tls else ""}
        location / {{
            proxy_pass http://127.0.0.1:{backend};{_UPGRADE if mode == "upgrade" else ""}
        }}
    }}
}}
"""


@asynccontextmanager
async def nginx_proxy(backend_port: int, mode: Mode = "plain") -> AsyncIterator[str]:
    """Run nginx in front of ``backend_port``; yields its base URL (http://127.0.0.1:PORT)."""
    async with _nginx(backend_port, mode, tls=False) as (url, _):
        yield url


@asynccontextmanager
async def nginx_tls_proxy(
    backend_port: int, mode: Mode = "upgrade"
) -> AsyncIterator[tuple[str, Path]]:
    """nginx with TLS in front of ``backend_port``: (https://127.0.0.1:PORT, its CA file)."""
    async with _nginx(backend_port, mode, tls=True) as (url, root):
        yield url, root / "cert.pem"


@asynccontextmanager
async def _nginx(backend_port: int, mode: Mode, tls: bool) -> AsyncIterator[tuple[str, Path]]:
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed (apt install nginx-light)")
    with tempfile.TemporaryDirectory(prefix="talkterm-nginx-") as tmp:
        root = Path(tmp)
        port = _free_port()
        if tls:
            self_signed(root)
        (root / "nginx.conf").write_text(config(root, port, backend_port, mode, tls))
        proc = await asyncio.create_subprocess_exec(
            binary, "-p", str(root), "-c", str(root / "nginx.conf"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await _wait_listening(port, proc, root)
            yield f"{'https' if tls else 'http'}://127.0.0.1:{port}", root
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
