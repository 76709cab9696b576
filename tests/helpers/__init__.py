"""Plain helpers the tests share: classes and functions, never fixtures (those live in conftest.py).

- ``client``: a WebSocket client speaking the realtime protocol, for server tests and bench/.
- ``server``: a test server's settings, the type of the ``start_server`` fixture, a raw HTTP GET.
- ``server_process``: the companion server as a separate process.
- ``waiting``: poll for a condition (``wait_for``), or check that one keeps holding (``stays``).
- ``player``: ``FakePlayer``, a recording stand-in for the app's audio player.
- ``tui_app``: the terminal app built for tests, a scripted link, ``ask``, message recorders.
- ``nginx``: a real nginx (Debian's nginx-light) in front of a test server, plain or with Upgrade.
- ``recording`` and ``audio_rig``: the PulseAudio null sink and what a recording of it holds.
"""
