"""Sessions: one conversation each, its answers, and the numbered stream of events it sends.

``session`` handles client events; ``response`` runs one answer (producer, speaker,
sender); ``outlet`` and ``replay`` number and keep what is sent so a client can
resume; ``frames``, ``conversation``, ``session_config`` and ``response_events`` are
their parts. This layer uses ``server.llm`` and ``server.speech``; only ``server.app``
uses it.
"""
