"""``talkterm``: parse flags, set up logging, run the app."""

from __future__ import annotations

import argparse
import logging
import re
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tui.config import Settings, config_path, load_settings

_EPILOG = """\
Every option can also be set in the environment (TALKTERM_SERVER, TALKTERM_TOKEN,
TALKTERM_AUDIO_DEVICE, TALKTERM_TEXT_ONLY, TALKTERM_KEYMAP as JSON, ...) or in the
config file ({config}). Flags win over the environment, which wins over the file.
Without --server, talkterm starts its own server (python -m server) on a free
loopback port and stops it on exit; that server reads its own TALKTERM_* settings
(e.g. TALKTERM_LLM_BASE_URL, TALKTERM_TTS) from the environment.
Keys: see docs/keys.md. Logs: {log}.
"""


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="talkterm",
        description="A terminal voice assistant: type a question, read the answer as it is "
        "written and hear it spoken.",
        epilog=_EPILOG.format(config=config_path(), log="$XDG_STATE_HOME/talkterm/talkterm.log"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add(
        "--server",
        metavar="URL",
        help="connect to a running server instead of starting one: ws://, wss://, http://, "
        "https:// or host:port, e.g. ws://127.0.0.1:8765/v1/realtime; falls back to HTTP "
        "streaming when a proxy refuses the WebSocket [TALKTERM_SERVER]",
    )
    add(
        "--transport",
        choices=["auto", "websocket", "http", "hybrid"],
        help="with --server: auto (default: the WebSocket, falling back to HTTP streaming), "
        "websocket, http, or hybrid (the first answer over HTTP while the WebSocket connects) "
        "[TALKTERM_TRANSPORT]",
    )
    add(
        "--ca-file",
        type=Path,
        metavar="PEM",
        help="also trust this CA certificate for wss:// and https:// (a self-signed server); "
        "OpenSSL's SSL_CERT_FILE works too [TALKTERM_CA_FILE]",
    )
    add(
        "--token",
        help="bearer token for --server; prefer TALKTERM_TOKEN, a flag shows in ps "
        "[TALKTERM_TOKEN]",
    )
    add(
        "--audio-device",
        metavar="NAME|INDEX",
        help="output device by name (or part of it) or index; see --list-devices "
        "[TALKTERM_AUDIO_DEVICE]",
    )
    add(
        "--mic-device",
        metavar="NAME|INDEX",
        help="microphone for f4 (talk) by name (or part of it) or index; see --list-devices "
        "[TALKTERM_MIC_DEVICE]",
    )
    add(
        "--hands-free",
        action="store_true",
        default=None,
        help="listen again after each answer, without f4 [TALKTERM_HANDS_FREE]",
    )
    add(
        "--echo-cancellation",
        action="store_true",
        default=None,
        help="hands-free: cancel the answer's echo so you can talk over it (needs the echo "
        "extra) [TALKTERM_ECHO_CANCELLATION]",
    )
    add("--list-devices", action="store_true", help="list audio output devices and exit")
    add(
        "--text-only",
        action="store_true",
        default=None,
        help="start in text-only mode: no speech is requested or played [TALKTERM_TEXT_ONLY]",
    )
    add(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"config file (default {config_path()}) [TALKTERM_CONFIG]",
    )
    add(
        "--log-file",
        type=Path,
        metavar="FILE",
        help="log file (default $XDG_STATE_HOME/talkterm/talkterm.log) [TALKTERM_LOG_FILE]",
    )
    add("--log-level", help="DEBUG, INFO, WARNING… (default INFO) [TALKTERM_LOG_LEVEL]")
    add(
        "--continue",
        dest="continue_last",
        action="store_true",
        default=None,
        help="reopen the most recent conversation [TALKTERM_CONTINUE_LAST]",
    )
    add(
        "--store",
        type=Path,
        metavar="FILE",
        help="chat store (default $XDG_DATA_HOME/talkterm/talkterm.db) [TALKTERM_STORE_FILE]",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    export = commands.add_parser(
        "export", help="print a stored conversation as Markdown (default: the most recent)"
    )
    export.add_argument("id", nargs="?", type=int, help="conversation number (default: the last)")
    export.add_argument(
        "-o", "--output", metavar="FILE", default="-", help="write here instead of stdout ('-')"
    )
    return parser


class RedactSecrets(logging.Filter):
    """Blank bearer tokens: websockets logs request headers at DEBUG, ours and the server's."""

    _BEARER = re.compile(r"(Bearer\s+)[^\s'\"]+", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the message with any token replaced by ***."""
        message = record.getMessage()
        redacted = self._BEARER.sub(r"\1***", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


LOG_MAX_BYTES = 5 << 20
"""The log file's size before it rotates (two old files kept: 15 MB at most)."""


def setup_logging(settings: Settings) -> Path:
    """Log to the file only: the screen belongs to the app."""
    path = settings.log_path
    path.parent.mkdir(parents=True, exist_ok=True)
    # Size-bounded: the companion server's refusals and warnings land here too.
    handler = RotatingFileHandler(path, maxBytes=LOG_MAX_BYTES, backupCount=2, encoding="utf-8")
    handler.addFilter(RedactSecrets())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    return path


def list_devices() -> int:
    """Print the output devices, one per line."""
    from tui.audio.player import list_devices as devices
    from tui.errors import AudioUnavailable

    try:
        found = devices()
    except AudioUnavailable as exc:
        print(f"talkterm: {exc}", file=sys.stderr)
        return 1
    if not found:
        print("talkterm: no audio output device found", file=sys.stderr)
        return 1
    for index, name in found:
        print(f"{index}\t{name}")
    return 0


def export(settings: Settings, conversation_id: int | None, output: str) -> int:
    """``talkterm export``: a stored conversation as Markdown, to stdout or a file."""
    from tui.store import Store, StoreError, export_markdown

    try:
        with Store(settings.store_path) as store:
            text = export_markdown(store, conversation_id)
    except StoreError as exc:
        print(f"talkterm: {exc}", file=sys.stderr)
        return 1
    if output == "-":
        sys.stdout.write(text)
        return 0
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"talkterm: cannot write {output}: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``talkterm`` and ``python -m tui``."""
    args = build_parser().parse_args(argv)
    if args.list_devices:
        return list_devices()
    flags: dict[str, Any] = {
        "server": args.server,
        "token": args.token,
        "transport": args.transport,
        "ca_file": args.ca_file,
        "audio_device": args.audio_device,
        "text_only": args.text_only,
        "mic_device": args.mic_device,
        "hands_free": args.hands_free,
        "echo_cancellation": args.echo_cancellation,
        "log_file": args.log_file,
        "log_level": args.log_level,
        "continue_last": args.continue_last,
        "store_file": args.store,
    }
    try:
        settings = load_settings(flags, args.config)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(f"talkterm: invalid setting: {problems}", file=sys.stderr)
        return 2
    except ValueError as exc:  # a config file that is not valid TOML
        print(f"talkterm: cannot read the config file: {exc}", file=sys.stderr)
        return 2
    if args.command == "export":
        return export(settings, args.id, args.output)
    try:
        log_path = setup_logging(settings)
    except (OSError, ValueError) as exc:
        print(f"talkterm: cannot open the log file: {exc}", file=sys.stderr)
        return 2
    logging.getLogger("talkterm").info("talkterm starting; log at %s", log_path)

    from tui.app import make_app  # Textual loads only once the flags are valid

    make_app(settings).run()
    return 0
