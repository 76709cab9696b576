"""The HTTP layer: one port for WebSocket and HTTP, and the OpenAI Chat Completions endpoint.

    front.py            uvicorn's HTTP parser on the socket; upgrades handed to websockets
    routes.py           /healthz, /v1/models, /v1/chat/completions, 426 on /v1/realtime
    chat_completions.py the endpoint: stream (SSE) or whole, stop when the client hangs up
    chat_request.py     the request body, checked as OpenAI checks it
    chat_stream.py      the WebSocket path's ResponseRun, seen as chat.completion chunks
    audio_out.py        pcm16 / wav / mp3 / opus output
    auth.py, errors.py  bearer token; OpenAI-shaped errors and status codes
    guard.py            web pages kept out: Host, Origin, JSON-only POSTs (docs/security.md)
    body.py, stall.py   request bodies on a deadline; answers dropped when nobody reads them
    refusal_log.py      refused requests logged at a bounded rate
"""
