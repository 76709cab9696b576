"""Choose the LLM at startup.

In order: an explicitly configured endpoint; OpenAI when a key is set; a
local server found on loopback (Ollama, then a llama.cpp server); then the small
local model in process (``server.llm.local``) when it is installed; else the
offline demo responder, which explains how to configure a real one. Beside an
upstream, the installed local model is offered as one more model (``server.llm.beside``).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import httpx
from pydantic import SecretStr

from server.config import Settings, llm_key
from server.errors import UpstreamError
from server.llm import LLMProvider, make_llm
from server.llm.beside import with_local_model
from server.llm.chat_completions import public_url

log = logging.getLogger(__name__)
T = TypeVar("T")

OPENAI_BASE_URL: Final = "https://api.openai.com/v1"
DEFAULT_MODEL: Final = "gpt-4o-mini"
# llama.cpp serves whatever model it loaded, whatever name it is asked for.
LLAMACPP_MODEL: Final = "default"


@dataclass(frozen=True, slots=True)
class LocalServer:
    """A local OpenAI-compatible server that answered a probe."""

    kind: str
    base_url: str
    model: str


Probe = Callable[[httpx.AsyncClient, str, str | None], Awaitable[LocalServer | None]]


async def choose_llm(settings: Settings) -> LLMProvider:
    """The LLM for these settings: its ``llm`` section plus the shared timeouts and keys."""
    section = settings.llm
    chosen = await resolve_llm(
        base_url=section.base_url,
        model=section.model,
        api_key=llm_key(settings),
        openai_api_key=_secret(settings.openai_api_key),
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        ollama_url=section.ollama_url if section.probe_local else None,
        llamacpp_url=section.llamacpp_url if section.probe_local else None,
        local=section.local,
    )
    return with_local_model(chosen, section.local)


async def resolve_llm(
    *,
    base_url: str | None,
    model: str | None,
    api_key: str | None,
    openai_api_key: str | None,
    connect_timeout: float,
    read_timeout: float,
    probe_timeout: float = 0.3,
    ollama_url: str | None = "http://127.0.0.1:11434",
    llamacpp_url: str | None = "http://127.0.0.1:8080",
    local: bool = False,
) -> LLMProvider:
    """Return the LLM to use; a probe URL of None skips that probe, ``local`` the local model."""
    make = functools.partial(
        make_llm, "chat_completions", connect_timeout=connect_timeout, read_timeout=read_timeout
    )
    if base_url:
        return await _configured(make, base_url, model, api_key, openai_api_key, probe_timeout)
    if key := api_key or openai_api_key:
        chosen = model or DEFAULT_MODEL
        return make(
            base_url=OPENAI_BASE_URL,
            model=chosen,
            api_key=key,
            label=f"{chosen} via OpenAI ({OPENAI_BASE_URL})",
        )
    urls = {"Ollama": ollama_url, "llama.cpp server": llamacpp_url}
    targets = [(_PROBES[kind], url) for kind, url in urls.items() if url]
    found = await _probe_all(targets, model, probe_timeout)
    if found is None:
        return await _local_or_demo() if local else make_llm("demo")
    return make(
        base_url=found.base_url,
        model=found.model,
        label=f"{found.model} via {found.kind} ({found.base_url})",
    )


async def _local_or_demo() -> LLMProvider:
    # Imported on use: nothing of llama.cpp loads while another LLM answers.
    from server.llm.local import LocalLLM

    try:
        return await LocalLLM.load()
    except UpstreamError as exc:
        # The demo stays only where the local model cannot run (not installed, or failed).
        log.warning("%s Answers come from the demo responder.", exc.message)
        return make_llm("demo")


async def _configured(
    make: Callable[..., LLMProvider],
    base_url: str,
    model: str | None,
    api_key: str | None,
    openai_api_key: str | None,
    probe_timeout: float,
) -> LLMProvider:
    try:
        host = httpx.URL(base_url).host
    except httpx.InvalidURL:
        host = ""  # the first request reports the bad URL in plain words
    # OPENAI_API_KEY goes to OpenAI only; any other host gets only the key meant for it.
    key = api_key or (openai_api_key if host == "api.openai.com" else None)
    if not model and _is_local(host):
        async with _probe_client(probe_timeout) as client:
            model = await _guarded(_first_listed_model(client, base_url, key), probe_timeout)
    chosen = model or DEFAULT_MODEL
    return make(
        base_url=base_url,
        model=chosen,
        api_key=key,
        label=f"{chosen} at {public_url(base_url.rstrip('/'))}",
    )


async def _first_listed_model(
    client: httpx.AsyncClient, base_url: str, key: str | None
) -> str | None:
    # A local server lists only the models its owner loaded, so the first is
    # a fair choice; a cloud list starts with anything (even speech models).
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = await client.get(f"{base_url.rstrip('/')}/models", headers=headers)
    ids = _names(response, "data", "id") if response.status_code == 200 else []
    return ids[0] if ids else None


async def _probe_ollama(
    client: httpx.AsyncClient, root: str, model: str | None
) -> LocalServer | None:
    response = await client.get(f"{root}/api/tags")
    if response.status_code != 200:
        return None
    names = _names(response, "models", "name")
    chosen = model or (names[0] if names else None)
    if chosen is None:
        log.warning("Ollama at %s has no models; try: ollama pull llama3.2", root)
        return None
    return LocalServer("Ollama", f"{root}/v1", chosen)


async def _probe_llamacpp(
    client: httpx.AsyncClient, root: str, model: str | None
) -> LocalServer | None:
    response = await client.get(f"{root}/v1/models")
    if response.status_code == 200:
        ids = _names(response, "data", "id")
        return LocalServer(
            "llama.cpp server", f"{root}/v1", model or next(iter(ids), LLAMACPP_MODEL)
        )
    response = await client.get(f"{root}/health")
    if response.status_code == 200:
        return LocalServer("llama.cpp server", f"{root}/v1", model or LLAMACPP_MODEL)
    return None


_PROBES: Final[dict[str, Probe]] = {
    "Ollama": _probe_ollama,
    "llama.cpp server": _probe_llamacpp,
}


async def _probe_all(
    targets: list[tuple[Probe, str]], model: str | None, within: float
) -> LocalServer | None:
    """Probe every target at once; the first in ``targets`` order that answered wins."""
    if not targets:
        return None
    async with _probe_client(within) as client:
        results = await asyncio.gather(
            *(_guarded(probe(client, url.rstrip("/"), model), within) for probe, url in targets)
        )
    return next((found for found in results if found is not None), None)


async def _guarded(step: Awaitable[T | None], within: float) -> T | None:
    """Run a probe step; no answer in time, or any HTTP or JSON trouble, means None."""
    try:
        async with asyncio.timeout(within):
            return await step
    except (TimeoutError, httpx.HTTPError, ValueError) as exc:
        log.debug("LLM probe failed: %r", exc)
        return None


def _probe_client(timeout: float) -> httpx.AsyncClient:
    # Probes target loopback; a proxy from the environment must not intercept them.
    return httpx.AsyncClient(timeout=timeout, trust_env=False)


def _names(response: httpx.Response, key: str, field: str) -> list[str]:
    body: Any = response.json()
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list):
        return []
    names = (item.get(field) for item in items if isinstance(item, dict))
    return [name for name in names if isinstance(name, str) and name]


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def _is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private
