"""Real playback into the PulseAudio null sink, checked on a recording of its monitor."""

from __future__ import annotations

import importlib.abc
import itertools
import math
import shutil
import statistics
import subprocess
import sys
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest

from tests.helpers.recording import RATE, Piece, Recording
from tests.helpers.waiting import holds, until
from tui.audio.player import Player, list_devices
from tui.errors import AudioUnavailable

pytestmark = pytest.mark.audio

Recorder = Callable[..., AbstractContextManager[Recording]]

TEXT = (
    "Sound travels through the air as a wave of pressure and our ears turn "
    "that wave into something we can understand"
)
# Capture jitter at either end of a recording, and PortAudio's start-up delay.
EDGE_MS = 50
# How far a resume may land from the sample where the sound stopped: typically within
# the rig's resolution (the recorder's 2 ms latency) plus ~1 ms; when both cores are
# busy, pause's flush itself can take ~20 ms and the placement errs by up to half that.
SEAM_MS = 3
SEAM_BUSY_MS = 10


def pcm_ms(pcm: bytes) -> float:
    return len(pcm) / 2 * 1000 / RATE


def tone(ms: float, hz: float = 440, level: int = 8000) -> bytes:
    """A sine tone, PCM16 mono 24 kHz."""
    count = int(RATE * ms / 1000)
    wave = array("h", (int(level * math.sin(2 * math.pi * hz * i / RATE)) for i in range(count)))
    return wave.tobytes()


def sound_span(rec: Recording) -> float:
    """Ms from the first to the last sound in a recording."""
    first, last = rec.first_sound_ms(), rec.last_sound_ms()
    assert first is not None and last is not None, "the recording is silent"
    return last - first


def unbroken(pcm: bytes) -> bytes:
    """The same audio with every exact zero made 1, so only silence recorded is exact zero."""
    samples = array("h")
    samples.frombytes(pcm)
    return array("h", (value or 1 for value in samples)).tobytes()


def close_to(measured: float, expected: float) -> bool:
    """Within 15 % or 100 ms, whichever is more generous."""
    return abs(measured - expected) <= max(0.15 * expected, 100)


def drain(player: Player, timeout: float = 20) -> None:
    """Wait until the buffer is empty and its last block has left the speaker."""
    deadline = time.monotonic() + timeout
    while player.buffered_ms > 0:
        assert time.monotonic() < deadline, "the player never drained its buffer"
        time.sleep(0.01)
    time.sleep((player.latency_ms + 2 * player.block_ms + EDGE_MS) / 1000)


@pytest.fixture(scope="module")
def speech() -> bytes:
    """espeak-ng speech converted to PCM16 mono 24 kHz with sox."""
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        pytest.skip("needs espeak-ng and sox (apt-get install espeak-ng sox)")
    wav = subprocess.run(
        ["espeak-ng", "--stdout", TEXT], capture_output=True, check=True, timeout=60
    ).stdout
    to_pcm = f"sox -t wav - -r {RATE} -c 1 -b 16 -e signed-integer -t raw -".split()
    return subprocess.run(to_pcm, input=wav, capture_output=True, check=True, timeout=60).stdout


@pytest.fixture
def player(null_sink: dict[str, str]) -> Iterator[Player]:
    """An open player on the default device, which the rig made the null sink."""
    with Player() as p:
        yield p


def test_speech_reaches_the_sink_whole(player: Player, recorder: Recorder, speech: bytes) -> None:
    with recorder() as rec:
        player.begin(1)
        player.feed(1, speech)
        player.mark_finished(1)
        drain(player)

    expected = Recording.of(speech).speech_ms()
    assert expected > 2000
    assert close_to(rec.speech_ms(), expected)
    assert player.played_ms == pcm_ms(speech)
    assert player.underruns == 0


def test_pause_leaves_a_gap_and_loses_nothing(
    player: Player, recorder: Recorder, speech: bytes
) -> None:
    with recorder() as rec:
        player.begin(1)
        player.feed(1, speech)
        time.sleep(1.0)
        paused_at = time.monotonic()
        player.pause()
        time.sleep(0.1)
        position = player.played_ms
        time.sleep(0.7)
        assert player.played_ms == position, "the position moved while paused"
        resumed_at = time.monotonic()
        player.resume()
        player.mark_finished(1)
        drain(player)

    gaps = rec.silent_gaps(500)
    assert len(gaps) == 1, f"expected one long silence, got {gaps}"
    start, length = gaps[0]
    # Pause flushes the device; resume waits a block plus the output latency.
    assert -EDGE_MS <= start - rec.ms_at(paused_at) <= player.block_ms + EDGE_MS
    slack = player.latency_ms + 2 * player.block_ms + EDGE_MS
    assert -EDGE_MS <= start + length - rec.ms_at(resumed_at) <= slack
    assert close_to(rec.speech_ms(), Recording.of(speech).speech_ms())
    assert player.played_ms == pcm_ms(speech)
    assert abs(sound_span(rec) - length - sound_span(Recording.of(speech))) <= EDGE_MS


def test_pause_is_prompt_and_resume_neither_skips_nor_repeats(
    player: Player, recorder: Recorder, speech: bytes
) -> None:
    source = unbroken(speech)
    paused_at, positions = [], []
    with recorder(latency_ms=2) as rec:
        player.begin(1)
        player.feed(1, source)
        player.mark_finished(1)
        for _ in range(3):
            time.sleep(1.0)
            paused_at.append(time.monotonic())
            player.pause()
            positions.append(player.played_ms)
            time.sleep(0.3)
            player.resume()
        drain(player)

    pieces = rec.pieces(source)
    assert pieces[0].source == 0 and pieces[-1].source_end == len(source) // 2
    seams = pause_seams(pieces)
    assert len(seams) == 3, f"expected three pauses, got {pieces}"
    # Sound stops about when pause() is called; draining 50 ms of flight took ~45 ms.
    silent_after = [
        (before.at + before.frames) * 1000 / RATE - rec.ms_at(when)
        for (before, _), when in zip(seams, paused_at, strict=True)
    ]
    assert statistics.median(silent_after) <= player.block_ms, silent_after
    # Positive: resume skipped audio; negative: it repeated some.
    jumps = [(after.source - before.source_end) * 1000 / RATE for before, after in seams]
    assert statistics.median(map(abs, jumps)) <= SEAM_MS, jumps
    assert max(map(abs, jumps)) <= SEAM_BUSY_MS, jumps
    for (_, after), position in zip(seams, positions, strict=True):
        # The position the app sees is where resume picks up.
        assert position == after.source * 1000 / RATE
    assert player.played_ms == pcm_ms(source)


def pause_seams(pieces: list[Piece]) -> list[tuple[Piece, Piece]]:
    """Pairs of pieces either side of a pause; any other break must lose nothing."""
    seams = []
    for before, after in itertools.pairwise(pieces):
        if after.at - (before.at + before.frames) >= RATE // 10:
            seams.append((before, after))
        else:  # a device underrun: a short silence, then the very next sample
            assert after.source == before.source_end, (before, after)
    return seams


def test_unpaused_speech_has_no_long_silence(speech: bytes) -> None:
    # Guards the pause test: the gap it finds must come from pausing, not from the voice.
    assert Recording.of(speech).silent_gaps(500) == []


def test_stop_silences_at_once_and_reports_what_was_heard(
    player: Player, recorder: Recorder
) -> None:
    with recorder() as rec:
        player.begin(1)
        fed_at = time.monotonic()
        player.feed(1, tone(3000))
        time.sleep(0.8)
        stopped_at = time.monotonic()
        played = player.stop()
        player.feed(1, tone(1000))  # late frames of the stopped response
        time.sleep(0.4)

    last = rec.last_sound_ms()
    assert last is not None
    assert last - rec.ms_at(stopped_at) <= 50 + EDGE_MS
    wall_ms = (stopped_at - fed_at) * 1000
    assert wall_ms - 300 <= played <= wall_ms
    assert abs(sound_span(rec) - played) <= EDGE_MS
    assert player.played_ms == played
    assert player.buffered_ms == 0


def test_a_stale_generation_is_ignored(player: Player, recorder: Recorder) -> None:
    with recorder() as rec:
        player.begin(1)
        player.feed(1, tone(2000))
        player.begin(2)
        player.feed(1, tone(2000))
        assert player.buffered_ms == 0
        player.feed(2, tone(400, hz=660))
        player.mark_finished(2)
        drain(player)

    assert close_to(rec.speech_ms(), 400)
    assert player.played_ms == 400


def test_a_device_that_does_not_exist_is_reported_plainly(null_sink: dict[str, str]) -> None:
    with pytest.raises(AudioUnavailable, match="no-such-card-42") as caught:
        Player(device="no-such-card-42").open()
    assert "Available outputs" in str(caught.value)
    with pytest.raises(AudioUnavailable, match="number 9999"):
        Player(device=9999).open()


def test_devices_are_listed_and_found_by_name(
    null_sink: dict[str, str], recorder: Recorder
) -> None:
    devices = list_devices()
    names = [name for _, name in devices]
    assert "pulse" in names, names
    with recorder() as rec, Player(device="PULS") as player:
        player.begin(1)
        player.feed(1, tone(300))
        player.mark_finished(1)
        drain(player)
    assert close_to(rec.speech_ms(), 300)


def test_a_machine_without_outputs_is_reported_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tui.audio.player.list_devices", lambda: [])
    with pytest.raises(AudioUnavailable, match="No audio output device was found"):
        Player().open()


def test_missing_portaudio_is_audio_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoPortAudio(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, *_: object) -> None:
            if name == "sounddevice":
                raise OSError("PortAudio library not found")

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [NoPortAudio(), *sys.meta_path])
    with pytest.raises(AudioUnavailable, match="libportaudio2"):
        Player().open()
    with pytest.raises(AudioUnavailable, match="PortAudio"):
        list_devices()


def test_underruns_counted_only_while_a_response_is_starved(player: Player) -> None:
    player.begin(1)
    player.feed(1, tone(100))
    time.sleep(0.4)  # the server is late: the speaker runs dry mid-response
    player.feed(1, tone(100))
    player.mark_finished(1)
    drain(player)
    # Running dry after the last audio is just the end.
    holds(lambda: player.underruns == 1, for_s=0.3, what="no underrun after the end")
    assert player.underruns == 1

    player.begin(2)
    player.feed(2, tone(100))
    player.pause()
    # Paused and idle time is not starvation.
    holds(lambda: player.underruns == 1, for_s=0.3, what="no underrun while paused")
    player.stop()
    holds(lambda: player.underruns == 1, for_s=0.2, what="no underrun once stopped")
    assert player.underruns == 1


def test_no_underruns_when_fed_in_time(player: Player) -> None:
    chunk_ms = 20
    chunks = [tone(chunk_ms)] * 100
    player.begin(1)
    for chunk in chunks[:10]:  # a head start, as a network buffer gives
        player.feed(1, chunk)
    start = time.monotonic()
    for index, chunk in enumerate(chunks[10:]):
        player.feed(1, chunk)
        time.sleep(max(0.0, start + (index + 1) * chunk_ms / 1000 - time.monotonic()))
    player.mark_finished(1)
    drain(player)

    assert player.played_ms == len(chunks) * chunk_ms
    assert player.underruns == 0


def test_an_idle_stream_rests_and_the_next_answer_plays_whole(
    null_sink: dict[str, str], recorder: Recorder
) -> None:
    with Player(rest_after_ms=200) as player:
        until(lambda: not player.running, what="the stream resting once nothing plays")
        assert player.resting
        with recorder() as rec:
            player.begin(1)
            assert player.running
            player.feed(1, tone(400))
            player.mark_finished(1)
            drain(player)
            # The tail has reached the speaker before the stream rests again.
            until(lambda: not player.running, what="the stream resting after the answer")
        assert player.played_ms == 400
        assert player.underruns == 0

    assert close_to(rec.speech_ms(), 400)


def test_pause_and_stop_keep_working_across_a_rest(
    null_sink: dict[str, str], recorder: Recorder
) -> None:
    with Player(rest_after_ms=100) as player:
        until(lambda: not player.running, what="the stream resting")
        player.stop()  # stopping nothing must not wake the stream
        assert not player.running
        with recorder() as rec:
            player.begin(1)
            player.feed(1, tone(2000))
            until(lambda: player.played_ms > 300, what="the tone playing")
            player.pause()
            holds(lambda: player.running, for_s=0.4, what="a paused answer keeps its stream")
            player.resume()
            until(lambda: player.played_ms > 800, what="the tone playing again")
            heard = player.stop()
            stopped_at = time.monotonic()
            until(lambda: not player.running, what="the stream resting after Stop")

    last = rec.last_sound_ms()
    assert last is not None and last <= rec.ms_at(stopped_at) + EDGE_MS
    assert close_to(rec.speech_ms(), heard)
