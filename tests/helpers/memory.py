"""The memory of this process (the server runs in-process in most tests), from /proc."""

from __future__ import annotations

import gc


def rss_mb(pid: str = "self") -> float:
    """Resident memory (VmRSS) of ``pid`` in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS line in /proc/status")


def settled_rss_mb() -> float:
    """RSS after a full collection, so garbage waiting for the collector is not counted."""
    gc.collect()
    return rss_mb()
