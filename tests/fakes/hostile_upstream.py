"""Replies a hostile or broken LLM upstream sends, for the fake in ``llm_upstream``.

Each builder returns a ``Reply`` whose content attacks one part of the server:
one huge chunk, text without punctuation (Latin or Chinese), fences that are not
fences, a thousand-digit usage count, a gzip body nobody asked for.
"""

from __future__ import annotations

from tests.fakes.llm_upstream import Reply

MB = 1 << 20


def huge_chunk(size: int = 10 * MB) -> Reply:
    """The whole answer as one content chunk of ``size`` characters of prose."""
    sentence = "A plain sentence of prose. "
    return Reply(chunks=[(sentence * (size // len(sentence) + 1))[:size]])


def no_punctuation(size: int, *, script: str = "latin", piece: int = 0) -> Reply:
    """``size`` characters with no sentence end, in one chunk or pieces of ``piece``."""
    text = ("word " * size)[:size] if script == "latin" else ("汉字" * size)[:size]
    return Reply(chunks=_cut(text, piece))


def bad_fence(size: int, *, piece: int = 0) -> Reply:
    """A "fence" whose info string holds a backtick (prose per CommonMark), then emphasis."""
    text = ("```a`b\n" + "**x " * size)[:size]
    return Reply(chunks=_cut(text, piece))


def huge_usage() -> Reply:
    """A short answer whose usage chunk counts tokens in thousands of digits."""
    return Reply(chunks=["Fine."], fault="huge_usage")


def gzip_body() -> Reply:
    """A short answer gzip-compressed although the request asked for identity."""
    return Reply(chunks=["Fine."], fault="gzip")


def _cut(text: str, piece: int) -> list[str]:
    if piece <= 0:
        return [text]
    return [text[i : i + piece] for i in range(0, len(text), piece)]
