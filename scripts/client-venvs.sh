#!/usr/bin/env bash
# Venvs for the voice-agent frameworks the client tests drive (tests/clients/), one each,
# because their pins clash with ours (openai-agents wants websockets<17). Each also gets
# talkterm itself, editable, so the tests run talkterm-server beside the framework's pins
# exactly as a user who installs both would.
#   bash scripts/client-venvs.sh            # all of them
#   bash scripts/client-venvs.sh agents     # one
# Idempotent: a venv is made again only when its requirement line below changes.
# First install from a warm pip cache on 2 busy cores: about 1.5-2 min per venv (wheels only).
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A CLIENTS=(
  [agents]="openai-agents==0.24.0"
  [pipecat]="pipecat-ai[openai]==1.14.0"
  [livekit]="livekit-agents[openai]==1.8.9"
  [llm]="llm==0.36"
)

make_venv() {
  local name="$1" spec="${CLIENTS[$1]}" dir=".venv-clients/$1"
  local stamp="$dir/.talkterm-client-spec"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$spec" && ! pyproject.toml -nt "$stamp" ]]; then
    return
  fi
  echo "talkterm: making $dir ($spec, with talkterm beside it)" >&2
  "${PYTHON:-python3}" -m venv "$dir"
  # shellcheck disable=SC2086  # the spec may hold several requirements
  "$dir/bin/python" -m pip install -q -e . $spec >&2
  echo "$spec" > "$stamp"
}

names=("$@")
((${#names[@]})) || names=("${!CLIENTS[@]}")
for name in "${names[@]}"; do
  [[ -n "${CLIENTS[$name]:-}" ]] || { echo "unknown client venv: $name" >&2; exit 2; }
  make_venv "$name"
done
