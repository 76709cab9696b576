#!/usr/bin/env bash
# Start (or reuse) a private PulseAudio daemon with a silent "talkterm_test" sink,
# and send ALSA's default device to it, so PortAudio/sounddevice can play into a
# virtual sound card whose monitor the tests record.
#
# Usage:
#   eval "$(scripts/audio-sink.sh)"     # start, then export the printed variables
#   scripts/audio-sink.sh stop          # stop the private daemon
#
# Idempotent: a second run reuses the daemon and the sink. Works as root in a
# container, without D-Bus, udev or a real sound card, and from CI (no stdin).
# Set TALKTERM_AUDIO_DIR to choose the runtime directory.
set -euo pipefail

SINK=talkterm_test
# A dedicated runtime dir, never the desktop's: the rig must not take over (or be
# confused by) a developer's real sound server.
RUNTIME_DIR=${TALKTERM_AUDIO_DIR:-/tmp/talkterm-audio-$(id -u)}
SOCKET="$RUNTIME_DIR/pulse/native"
ASOUNDRC="$HOME/.asoundrc"
MARKER="# written by talkterm scripts/audio-sink.sh"

export XDG_RUNTIME_DIR="$RUNTIME_DIR"
export PULSE_SERVER="unix:$SOCKET"

die() { echo "audio-sink: $*" >&2; exit 1; }

command -v pulseaudio >/dev/null || die "pulseaudio is not installed (apt-get install pulseaudio pulseaudio-utils libasound2-plugins)"
command -v pactl >/dev/null || die "pactl is not installed (apt-get install pulseaudio-utils)"

if [[ "${1:-}" == stop ]]; then
    pulseaudio --kill 2>/dev/null || true
    exit 0
fi

mkdir -p "$RUNTIME_DIR"
chmod 700 "$RUNTIME_DIR"

if ! pactl info >/dev/null 2>&1; then
    # -n skips default.pa: its udev/ALSA/D-Bus modules fail in a container. Realtime
    # and nice requests are refused there too, and only add warnings.
    pulseaudio --daemonize=yes --system=false -n \
        --exit-idle-time=-1 --disallow-exit \
        --realtime=no --high-priority=no \
        --log-target="newfile:$RUNTIME_DIR/pulse.log" \
        --load="module-native-protocol-unix auth-anonymous=1 socket=$SOCKET" \
        </dev/null >/dev/null 2>&1 \
        || die "pulseaudio failed to start; see $RUNTIME_DIR/pulse.log"
    for _ in $(seq 50); do
        pactl info >/dev/null 2>&1 && break
        sleep 0.1
    done
    pactl info >/dev/null 2>&1 || die "pulseaudio did not answer on $SOCKET; see $RUNTIME_DIR/pulse.log"
fi

if ! pactl list short sinks | cut -f2 | grep -qx "$SINK"; then
    # 24 kHz mono like our PCM, so nothing is resampled between player and recorder.
    pactl load-module module-null-sink "sink_name=$SINK" norewinds=1 \
        rate=24000 channels=1 format=s16le \
        sink_properties=device.description=talkterm_test >/dev/null
fi
pactl set-default-sink "$SINK"
pactl set-default-source "$SINK.monitor"

# ALSA reaches PulseAudio through the pulse plugin (libasound2-plugins). Only a file
# we wrote ourselves is ever replaced.
if [[ ! -e "$ASOUNDRC" ]] || grep -qxF "$MARKER" "$ASOUNDRC"; then
    cat >"$ASOUNDRC" <<EOF
$MARKER
pcm.!default { type pulse }
ctl.!default { type pulse }
EOF
else
    echo "audio-sink: left your $ASOUNDRC alone; ALSA's default must be PulseAudio" >&2
fi

echo "export XDG_RUNTIME_DIR=$RUNTIME_DIR"
echo "export PULSE_SERVER=unix:$SOCKET"
echo "export PULSE_SINK=$SINK"
