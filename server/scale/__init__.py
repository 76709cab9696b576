"""Several worker processes behind HAProxy (``talkterm-server --workers N``).

``supervisor`` starts the workers and HAProxy, restarts a worker that dies and drains
all on SIGTERM; ``haproxy`` renders deploy/haproxy.cfg for them and runs it; ``drain``
is the worker's side of a SIGTERM: no new sessions, answers in flight finish, then exit.
docs/scaling.md explains the design.
"""
