#!/usr/bin/env bash
# Set up everything talkterm needs on Debian/Ubuntu, then run the app or the tests.
#   bash scripts/bootstrap.sh app [talkterm options]   # set up, then start talkterm
#   bash scripts/bootstrap.sh test [pytest options]    # set up, then run the whole test suite
# Idempotent: a second run only checks what is already there.
set -euo pipefail

cd "$(dirname "$0")/.."
mode="${1:-app}"
shift || true

APT_PACKAGES=(
  python3 python3-venv python3-dev   # the interpreter and its venv module
  espeak-ng                          # offline speech (the default voice)
  ffmpeg                             # pydub decodes mp3/opus/wav through it
  libportaudio2                      # sounddevice plays through PortAudio
)
TEST_APT_PACKAGES=(
  pulseaudio pulseaudio-utils libasound2-plugins   # a virtual sound card the tests record
  tmux                                             # the terminal smoke test
  sox                                              # handy for audio checks
  nginx-light                                      # a real reverse proxy (tests/http)
  chromium                                         # a hostile web page (tests/server/test_browser_attack.py)
  cmake g++                                        # build llama-cpp-python (context tests)
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

setup_python() {
  local python="${PYTHON:-python3}"
  if [[ ! -x .venv/bin/python ]]; then
    "$python" -m venv .venv
  fi
  local spec="." stamp=".venv/.talkterm-installed-${1:-app}"
  [[ -n "$1" ]] && spec=".[$1]"
  if [[ ! -f "$stamp" || pyproject.toml -nt "$stamp" ]]; then
    .venv/bin/python -m pip install -q --upgrade pip >&2
    .venv/bin/python -m pip install -q -e "$spec" >&2
    touch "$stamp"
  fi
}

# The real OpenAI-compatible server the context tests run against (tests/server/
# test_real_llama_server.py). It is a source-only package that compiles llama.cpp: 18 min
# wall (8.4 min CPU) on 2 busy cores the first time, then pip's wheel cache makes it
# instant. CPU only, portable (no -march=native), no BLAS, none of llama.cpp's own programs.
LLAMA_CPP_PYTHON="llama-cpp-python[server]==0.3.36"
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_BLAS=OFF -DGGML_OPENMP=OFF -DLLAMA_CURL=OFF
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF"

setup_llama_server() {
  local stamp=".venv/.talkterm-installed-llama-cpp-python"
  [[ -f "$stamp" ]] && return
  echo "talkterm: installing $LLAMA_CPP_PYTHON (compiles llama.cpp once; later installs are cached)" >&2
  CMAKE_ARGS="${LLAMA_CMAKE_ARGS//$'\n'/ }" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    .venv/bin/python -m pip install -q "$LLAMA_CPP_PYTHON" >&2
  touch "$stamp"
}

case "$mode" in
  app)
    need_apt "${APT_PACKAGES[@]}"
    setup_python ""
    exec .venv/bin/talkterm "$@"
    ;;
  test)
    need_apt "${APT_PACKAGES[@]}" "${TEST_APT_PACKAGES[@]}"
    setup_python test
    setup_llama_server
    exec .venv/bin/python -m pytest "$@"
    ;;
  *)
    echo "usage: bash scripts/bootstrap.sh app|test [options]" >&2
    exit 2
    ;;
esac
