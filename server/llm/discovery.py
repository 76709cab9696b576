"""What an OpenAI-compatible upstream says about itself: its models and context size.

Each server states its context size somewhere else, if at all:

- llama.cpp's server: ``GET /props`` → ``default_generation_settings.n_ctx``;
- Ollama: ``POST /api/show`` → ``parameters`` ``num_ctx`` when the model sets it, else
  its runtime default (``OLLAMA_DEFAULT_CONTEXT``), never more than ``model_info``'s
  ``<arch>.context_length`` — Ollama runs a model with ``num_ctx`` whatever the model
  could take, and silently cuts a longer prompt;
- OpenAI, vLLM, llama-cpp-python: nowhere before a request; their "too long" error
  names it (``server.llm.context.overflow_window``).

Every question is read as a stream under a byte cap and a total deadline
(``server.upstream_read``), and any trouble means "cannot say" (None): an upstream
whose ``/props`` never ends costs ``PROBE_MAX_BYTES`` and ``PROBE_TIMEOUT`` seconds.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Final

import httpx

from server.upstream_read import ReadRefused, read_capped

log = logging.getLogger(__name__)

PROBE_TIMEOUT: Final = 2.0
"""Seconds one question may take in all (connecting, waiting and reading)."""
PROBE_MAX_BYTES: Final = 1 << 20
"""A context probe's answer is a few kB (Ollama's /api/show with a long licence, ~100 kB)."""
MODELS_MAX_BYTES: Final = 8 << 20
"""A model list with descriptions (OpenRouter's) is a few MB."""
OLLAMA_DEFAULT_CONTEXT: Final = 4096
_NUM_CTX: Final = re.compile(r"^\s*num_ctx\s+(\d+)", re.MULTILINE)


async def list_models(
    client: httpx.AsyncClient, base_url: str, headers: dict[str, str] | None = None
) -> list[str] | None:
    """Model ids from ``GET {base_url}/models``, or None when the upstream cannot say."""
    body = await _json(client, "GET", f"{base_url}/models", MODELS_MAX_BYTES, headers=headers)
    items = body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return None
    names = (item.get("id") for item in items if isinstance(item, dict))
    return [name for name in names if isinstance(name, str) and name]


async def context_window(client: httpx.AsyncClient, base_url: str, model: str) -> int | None:
    """The context size the upstream at ``base_url`` states for ``model``, or None."""
    root = base_url.rstrip("/").removesuffix("/v1")
    if httpx.URL(root).host == "api.openai.com":
        return None  # OpenAI states it nowhere; asking would only cost two 404s
    return await _llamacpp_props(client, root) or await _ollama_show(client, root, model)


async def _llamacpp_props(client: httpx.AsyncClient, root: str) -> int | None:
    body = await _json(client, "GET", f"{root}/props", PROBE_MAX_BYTES)
    if not isinstance(body, dict):
        return None
    settings = body.get("default_generation_settings")
    for where in (settings, body):
        if isinstance(where, dict) and _positive(where.get("n_ctx")):
            return int(where["n_ctx"])
    return None


async def _ollama_show(client: httpx.AsyncClient, root: str, model: str) -> int | None:
    body = await _json(client, "POST", f"{root}/api/show", PROBE_MAX_BYTES, json={"model": model})
    if not isinstance(body, dict):
        return None
    info = body.get("model_info")
    lengths = [
        value
        for key, value in (info.items() if isinstance(info, dict) else [])
        if key.endswith(".context_length") and _positive(value)
    ]
    parameters = body.get("parameters")
    found = _NUM_CTX.search(parameters) if isinstance(parameters, str) else None
    if found:
        return int(found.group(1))
    if not lengths and "parameters" not in body and "modelfile" not in body:
        return None  # not Ollama's answer
    return int(min([OLLAMA_DEFAULT_CONTEXT, *lengths]))


async def _json(
    client: httpx.AsyncClient, method: str, url: str, max_bytes: int, **options: Any
) -> object | None:
    try:
        status, raw = await read_capped(
            client, method, url, max_bytes=max_bytes, deadline=PROBE_TIMEOUT, **options
        )
        if status != 200:
            return None
        body: object = json.loads(raw)
        return body
    except (httpx.HTTPError, httpx.InvalidURL, ValueError, RecursionError, ReadRefused) as exc:
        log.debug("%s %s: %r", method, url, exc)
        return None


def _positive(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
