"""espeak-ng as a speech engine: one subprocess per segment, WAV streamed from stdout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any, Self

from server.errors import TTSError, TTSUnavailable
from server.speech import TTSProvider
from server.speech.audio_format import WavStreamDecoder
from server.speech.language import JAPANESE, without_han

if TYPE_CHECKING:
    from server.config import Settings

MISSING_MESSAGE = (
    "espeak-ng is not installed; install it (apt install espeak-ng) or choose --tts openai/none"
)
# Voice names such as "en-us", "en-gb-x-rp", "mb-en1" or "en+f3". A leading "-"
# is refused: espeak-ng would read it as an option.
_VOICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+\-./]{0,63}")
_READ_SIZE = 4096
# espeak-ng's -s takes 80-450 words per minute (slower is clamped to 80 by espeak-ng itself).
RATE_RANGE = (80, 450)
# The words-per-minute rates accepted as the configured rate (-s), before scaling by speed.
_MIN_RATE, _MAX_RATE = 20, 1000
_STDERR_KEEP = 2000
# Suggested when a client names a voice espeak-ng does not have (those it has).
_EXAMPLES = ("en-us", "en-gb", "de", "fr", "es")
# Voices to prefer for a language, best first. espeak-ng 1.51's "cmn" turns Han into
# pinyin with tone digits and reads the digits as English ("ni three hao three");
# "cmn-latn-pinyin" reads the same pinyin as Mandarin.
_LANGUAGE_VOICES = {"cmn": ("cmn-latn-pinyin", "cmn")}


def _checked_voice(voice: str) -> str:
    if not _VOICE.fullmatch(voice):
        raise TTSError(f"invalid espeak-ng voice name {voice!r}")
    return voice


def _trimmed(stderr: bytes) -> str:
    text = " ".join(stderr.decode("utf-8", "replace").split())
    return text[:300] or "no message on stderr"


class EspeakTTS(TTSProvider):
    """Local speech with espeak-ng: robotic but instant, offline and free."""

    name = "espeak"
    label = "espeak-ng"
    voice_hint = "`espeak-ng --voices` lists them all"
    # One process per synthesis, CPU-bound: more than 2 per core only makes everyone wait.
    synthesis_jobs = 2 * (os.cpu_count() or 1)
    # A long opening sentence is cut after its first words, as for Piper: 44 characters
    # without a comma were heard after 110 ms, its first words after 97 (first_audio_bench).
    first_fragment = 8

    def __init__(
        self,
        voice: str = "en-us",
        rate: int = 175,
        executable: str = "espeak-ng",
        speed: float = 1.0,
    ) -> None:
        if not _MIN_RATE <= int(rate) <= _MAX_RATE:
            raise TTSError(
                f"espeak-ng rate must be {_MIN_RATE}-{_MAX_RATE} words per minute, not {rate}"
            )
        self.voice: str = _checked_voice(voice)
        self.rate = int(rate)
        self.speed = float(speed)
        self.executable = executable
        self._voices: frozenset[str] | None = None
        self._languages: dict[str, list[str]] = {}
        self._listed = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """espeak-ng with ``settings.tts.espeak`` and the chosen voice (default en-us)."""
        own = settings.tts.espeak
        return cls(
            voice=settings.tts.voice or "en-us",
            rate=own.rate,
            executable=own.executable,
            speed=settings.tts.speed,
        )

    def problem(self) -> str | None:
        """Say so when espeak-ng is not installed: answers are then text only."""
        if shutil.which(self.executable) is not None:
            return None
        return (
            f"{self.executable} is not installed, so answers are text only. "
            "Install it (sudo apt install espeak-ng) or start the server with --tts openai."
        )

    def voices(self) -> frozenset[str] | None:
        """Voice names espeak-ng knows (language codes and file names), asked once."""
        if not self._listed:
            rows = _list_voices(self.executable)
            self._voices = _names(rows)
            self._languages = _by_language(rows)
            self._listed = True
        return self._voices

    def installed_voices(self) -> dict[str, list[str]]:
        """espeak-ng's voices by language: ``cmn`` → ``cmn``, ``cmn-latn-pinyin``."""
        self.voices()
        return self._languages

    def language_voice(self, language: str) -> str | None:
        """espeak-ng's voice for a language code (its voices are named by language)."""
        known = self.voices() or frozenset()
        return next(
            (name for name in _LANGUAGE_VOICES.get(language, (language,)) if name in known), None
        )

    def readable(self, text: str, voice: str | None) -> str:
        """espeak-ng's Japanese reads kana only: each kanji would be "Chinese letter"."""
        if (voice or self.voice).split("-")[0] == JAPANESE:
            return without_han(text)
        return text

    def voice_examples(self) -> list[str]:
        """Common voices this espeak-ng has."""
        known = self.voices() or frozenset()
        return [voice for voice in _EXAMPLES if voice in known]

    async def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> AsyncGenerator[bytes, None]:
        """Yield PCM16 mono 24 kHz chunks as espeak-ng produces them."""
        if not text.strip():
            return
        chosen = _checked_voice(voice) if voice else self.voice
        proc = await self._spawn(chosen, self.rate_for(speed))
        feeder = asyncio.create_task(_feed(proc, text))
        stderr = asyncio.create_task(_collect(proc.stderr))
        decoder = WavStreamDecoder()
        try:
            assert proc.stdout is not None
            while data := await proc.stdout.read(_READ_SIZE):
                if pcm := _decode(decoder, data):
                    yield pcm
            status = await proc.wait()
            if status != 0:
                how = f"exit status {status}" if status > 0 else f"killed by signal {-status}"
                raise TTSError(f"espeak-ng failed ({how}): {_trimmed(await stderr)}")
            try:
                decoder.finish()
            except ValueError:
                raise TTSError(f"espeak-ng produced no audio: {_trimmed(await stderr)}") from None
        finally:
            await _stop(proc, feeder, stderr)

    def rate_for(self, speed: float) -> int:
        """espeak-ng's words per minute at ``speed`` (times the engine's own), within range.

        Speed 1.5 is half as fast again: the words-per-minute rate scales with it.
        """
        low, high = RATE_RANGE
        return max(low, min(high, round(self.rate * self.pace(speed))))

    async def _spawn(self, voice: str, rate: int) -> asyncio.subprocess.Process:
        path = shutil.which(self.executable)
        if path is None:
            raise TTSUnavailable(MISSING_MESSAGE)
        try:
            # Text goes on stdin, never argv: no shell, and text that starts with "-"
            # cannot become an option. "-b 1" says the input is UTF-8.
            return await asyncio.create_subprocess_exec(
                path,
                "--stdout",
                "-b",
                "1",
                "-v",
                voice,
                "-s",
                str(rate),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except (FileNotFoundError, PermissionError):
            raise TTSUnavailable(MISSING_MESSAGE) from None


def _list_voices(executable: str) -> list[list[str]]:
    """The rows ``espeak-ng --voices`` lists (priority, language, gender, name, file…)."""
    try:
        listing = subprocess.run(
            [executable, "--voices"], capture_output=True, text=True, timeout=5, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    rows = [line.split() for line in listing.splitlines()[1:]]
    return [fields for fields in rows if len(fields) >= 5]


def _names(rows: list[list[str]]) -> frozenset[str] | None:
    """Every name a voice answers to: language code, name, file and file name; None if none."""
    names: set[str] = set()
    for fields in rows:
        names.update({fields[1], fields[3], fields[4], fields[4].rsplit("/", 1)[-1]})
    return frozenset(names) or None


def _by_language(rows: list[list[str]]) -> dict[str, list[str]]:
    """The voices' language codes grouped by language (``en`` → ``en-gb``, ``en-us``…)."""
    grouped: dict[str, list[str]] = {}
    for code in sorted({fields[1] for fields in rows}):
        grouped.setdefault(code.split("-")[0].lower(), []).append(code)
    return grouped


def _decode(decoder: WavStreamDecoder, data: bytes) -> bytes:
    try:
        return decoder.feed(data)
    except ValueError as exc:
        raise TTSError(f"espeak-ng wrote something that is not WAV audio: {exc}") from None


async def _feed(proc: asyncio.subprocess.Process, text: str) -> None:
    """Write the text on stdin beside the reader, so a long text cannot deadlock the pipes."""
    assert proc.stdin is not None
    try:
        proc.stdin.write(text.encode("utf-8"))
        await proc.stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # espeak-ng quit early; its exit status says why
    finally:
        proc.stdin.close()


async def _collect(stream: asyncio.StreamReader | None) -> bytes:
    """Drain stderr so the child never blocks on it, keeping only the start."""
    kept = b""
    if stream is None:
        return kept
    while data := await stream.read(_READ_SIZE):
        kept = (kept + data)[:_STDERR_KEEP]
    return kept


async def _stop(proc: asyncio.subprocess.Process, *helpers: asyncio.Future[Any]) -> None:
    """Kill espeak-ng if it is still running and reap it, even while being cancelled."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    for task in helpers:
        task.cancel()
    # Read stdout to its end: a reader that stopped mid-stream has paused the pipe, and
    # asyncio's wait() also waits for the pipes to close, which a paused pipe never does.
    rest = asyncio.ensure_future(_collect(proc.stdout))
    # Shielded so a second cancellation cannot leave the child unreaped.
    await asyncio.shield(asyncio.gather(proc.wait(), rest, *helpers, return_exceptions=True))
