"""A "machine" for tests: a network namespace with an address of its own, joined to this
one by a veth pair (needs root: ``ip netns``)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass


@dataclass(frozen=True)
class Machine:
    """A namespace: its name, its address and the address it sees this host at."""

    name: str
    address: str
    host_side: str
    link: str

    def command(self, *argv: str) -> list[str]:
        """``argv`` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def unplug(self) -> None:
        """The machine is lost: every process in it killed, its cable pulled."""
        pids = subprocess.run(
            ["ip", "netns", "pids", self.name], capture_output=True, text=True, check=False
        ).stdout.split()
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "link", "del", self.link], capture_output=True, check=False)


def can_make_machines() -> bool:
    """Whether this process may create network namespaces (root with ``ip``)."""
    return os.geteuid() == 0 and shutil.which("ip") is not None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@asynccontextmanager
async def machine(index: int) -> AsyncIterator[Machine]:
    """Namespace ``tt<pid>m<index>`` at 10.222.<index>.2, this host at 10.222.<index>.1."""
    name = f"tt{os.getpid()}m{index}"
    link, peer = f"tt{os.getpid() % 100000}a{index}", f"tt{os.getpid() % 100000}b{index}"
    here, there = f"10.222.{index}.1", f"10.222.{index}.2"
    _ip("netns", "add", name)
    try:
        _ip("link", "add", link, "type", "veth", "peer", "name", peer)
        _ip("link", "set", peer, "netns", name)
        _ip("addr", "add", f"{here}/24", "dev", link)
        _ip("link", "set", link, "up")
        _ip("-n", name, "addr", "add", f"{there}/24", "dev", peer)
        _ip("-n", name, "link", "set", peer, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        yield Machine(name, there, here, link)
    finally:
        Machine(name, there, here, link).unplug()
        await asyncio.to_thread(subprocess.run, ["ip", "netns", "del", name], check=False)
