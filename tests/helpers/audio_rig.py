"""The virtual sound card rig: a PulseAudio null sink, and a recorder on its monitor.

``start_null_sink()`` (behind the ``null_sink`` fixture) runs scripts/audio-sink.sh
once per session and exports what it prints into ``os.environ`` before sounddevice
(PortAudio) is initialised, so the ALSA default device plays into a null sink.
``record()`` captures that sink's monitor with ``parec`` while a test plays. Each
process gets a sink of its own (``talkterm_test_<pid>``, via ``PULSE_SINK``) beside the rig's shared
``talkterm_test``: another test run or bench playing at the same time would
otherwise be mixed into the recording.

The sink neither resamples nor mixes, so a recording holds the played samples
bit for bit, and its silence is exact zeros. The sink renders a little ahead
of the clock, as far as the recorder's latency (``latency_ms``), and cannot
take that back when a player flushes: a recording places a flush only to
within that latency, so measurements of it record with 2 ms.
"""

from __future__ import annotations

import asyncio
import atexit
import io
import os
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

from tests.helpers.recording import RATE, Recording

ROOT = Path(__file__).resolve().parents[2]
SINK_SCRIPT = ROOT / "scripts" / "audio-sink.sh"
SINK = "talkterm_test"


def start_null_sink() -> dict[str, str]:
    """Start the null sink rig and export its variables into this process."""
    done = subprocess.run(
        ["bash", str(SINK_SCRIPT)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/audio-sink.sh failed: {done.stderr.strip()}")
    env: dict[str, str] = {}
    for line in done.stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        if name and value:
            env[name] = value
    os.environ.update(env)
    env["PULSE_SINK"] = os.environ["PULSE_SINK"] = _private_sink()
    sd = sys.modules.get("sounddevice")
    if sd is not None:
        # PortAudio read ALSA's configuration when it was imported, before the rig
        # existed; start it again so the pulse default device is seen.
        sd._terminate()
        sd._initialize()
    return env


def _pactl(*args: str) -> str:
    done = subprocess.run(
        ["pactl", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30
    )
    if done.returncode != 0:
        raise RuntimeError(f"pactl {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def _private_sink() -> str:
    """Load this process's null sink (unloaded at exit), dropping those of dead processes."""
    for line in _pactl("list", "short", "modules").splitlines():
        module, _, rest = line.partition("\t")
        name = rest.partition(f"sink_name={SINK}_")[2].split(" ")[0]
        if name.isdigit() and not Path(f"/proc/{name}").exists():
            _pactl("unload-module", module)
    sink = f"{SINK}_{os.getpid()}"
    module = _pactl(
        "load-module",
        "module-null-sink",
        f"sink_name={sink}",
        "norewinds=1",
        f"rate={RATE}",
        "channels=1",
        "format=s16le",
        f"sink_properties=device.description={sink}",
    ).strip()
    atexit.register(_pactl, "unload-module", module)
    return sink


@contextmanager
def record(tail_ms: float = 150, latency_ms: int = 10) -> Iterator[Recording]:
    """Capture the null sink's monitor for the duration of the block, plus ``tail_ms``."""
    rec = Recording()
    parec = subprocess.Popen(
        [
            "parec",
            f"--device={os.environ.get('PULSE_SINK', SINK)}.monitor",
            "--format=s16le",
            f"--rate={RATE}",
            "--channels=1",
            f"--latency-msec={latency_ms}",
            "--raw",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert parec.stdout is not None

    def pump() -> None:
        # A binary pipe is a BufferedReader, whose read1 returns what has arrived so far.
        stdout = cast(io.BufferedReader, parec.stdout)
        while chunk := stdout.read1(4096):
            rec.note_read(time.monotonic(), chunk)

    reader = threading.Thread(target=pump, name="parec-reader", daemon=True)
    reader.start()
    try:
        _wait_for_audio(rec, parec)
        yield rec
        time.sleep(tail_ms / 1000)
    finally:
        parec.terminate()
        reader.join(timeout=5)
        parec.wait(timeout=5)
        assert parec.stderr is not None
        parec.stderr.close()


def _wait_for_audio(rec: Recording, parec: subprocess.Popen[bytes]) -> None:
    """Block until parec delivers its first samples, so nothing played is missed."""
    deadline = time.monotonic() + 5
    while not rec.raw:
        if parec.poll() is not None or time.monotonic() > deadline:
            parec.kill()  # so reading its stderr below cannot block
            err = parec.stderr.read().decode(errors="replace") if parec.stderr else ""
            raise RuntimeError(f"parec did not start: {err.strip() or 'no output'}")
        time.sleep(0.005)


@contextmanager
def microphone() -> Iterator[str]:
    """A virtual microphone: a second null sink whose monitor is this process's default source.

    Yields the sink's name: ``paplay -d NAME speech.wav`` is a person speaking into it.
    ``PULSE_SOURCE`` (read by libpulse, so by the ALSA pulse plugin and PortAudio) points
    this process and its children at the monitor, leaving the shared daemon's default alone.
    """
    sink = f"talkterm_mic_{os.getpid()}"
    module = _pactl(
        "load-module",
        "module-null-sink",
        f"sink_name={sink}",
        f"rate={RATE}",
        "channels=1",
        "format=s16le",
        f"sink_properties=device.description={sink}",
    ).strip()
    os.environ["PULSE_SOURCE"] = f"{sink}.monitor"
    try:
        yield sink
    finally:
        os.environ.pop("PULSE_SOURCE", None)
        _pactl("unload-module", module)


def wav_file(path: Path, pcm: bytes) -> Path:
    """Write PCM16 mono 24 kHz as a WAV file for paplay."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm)
    return path


async def speak_into(sink: str, wav: Path, volume: int = 65536) -> None:
    """A person speaking: play ``wav`` into ``sink`` (65536 is full volume), to its end."""
    proc = await asyncio.create_subprocess_exec(
        "paplay", "-d", sink, f"--volume={volume}", str(wav)
    )
    assert await asyncio.wait_for(proc.wait(), 60) == 0
