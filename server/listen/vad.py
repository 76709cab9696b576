"""Voice activity: the Silero model that faster-whisper ships, with per-session state.

Whisper writes words even for silence or a cough ("Thank you."), so nothing reaches
it that Silero did not hear as speech. One ONNX session is shared by the whole server
(the model is 2 MB and stateless between calls); each stream keeps its own recurrent
state and the last 64 samples of context, as Silero's own streaming iterator does.
A 32 ms window costs about 0.1 ms of one core.
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path
from typing import Any, Final

import numpy as np

from server.listen import LISTEN_RATE, Samples, STTUnavailable

WINDOW: Final = 512
"""Samples per Silero window at 16 kHz (32 ms)."""
WINDOW_MS: Final = WINDOW * 1000 / LISTEN_RATE
_CONTEXT: Final = 64
_STATE_SHAPE: Final = (1, 1, 128)


def model_path() -> Path:
    """The Silero ONNX file inside faster-whisper's assets."""
    try:
        import faster_whisper
    except ImportError:
        raise STTUnavailable("faster-whisper is not installed (its Silero model is)") from None
    found = sorted((Path(faster_whisper.__file__).parent / "assets").glob("silero_vad*.onnx"))
    if not found:
        raise STTUnavailable("faster-whisper's Silero voice-activity model is missing")
    return found[-1]


@cache
def _session() -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    options.log_severity_level = 4
    # Idle ONNX threads would spin between appends and burn the core the answer needs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(
        str(model_path()), sess_options=options, providers=["CPUExecutionProvider"]
    )


_lock = threading.Lock()


def load() -> None:
    """Load the shared model now (raises STTUnavailable when it cannot)."""
    with _lock:
        _session()


class VoiceActivity:
    """Speech probability of each 32 ms window of one 16 kHz stream."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the stream so far (a new turn, or a cleared buffer)."""
        self._h = np.zeros(_STATE_SHAPE, np.float32)
        self._c = np.zeros(_STATE_SHAPE, np.float32)
        self._context = np.zeros(_CONTEXT, np.float32)
        self._pending = np.zeros(0, np.float32)

    def feed(self, samples: Samples) -> Samples:
        """The probabilities of every window completed by ``samples`` (maybe none)."""
        audio = np.concatenate([self._pending, samples.astype(np.float32, copy=False)])
        whole = audio.size // WINDOW * WINDOW
        self._pending = audio[whole:]
        if whole == 0:
            return np.zeros(0, np.float32)
        windows = audio[:whole].reshape(-1, WINDOW)
        contexts = np.concatenate([self._context[None, :], windows[:-1, -_CONTEXT:]])
        self._context = windows[-1, -_CONTEXT:].copy()
        batch = np.concatenate([contexts, windows], axis=1)
        # The batch axis is time: the model carries its state from one row to the next.
        probs, self._h, self._c = _session().run(None, {"input": batch, "h": self._h, "c": self._c})
        return np.asarray(probs, np.float32).reshape(-1)


def speech_ms(samples: Samples, threshold: float) -> float:
    """Milliseconds of ``samples`` that Silero hears as speech (a whole turn, fresh state)."""
    probs = VoiceActivity().feed(samples)
    return float(np.count_nonzero(probs >= threshold)) * WINDOW_MS
