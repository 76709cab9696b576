"""Answers the fake LLM gives in more than one test module."""

LONG = (
    "First, the kettle goes on. Then the cups are warmed with a splash of hot water. "
    "Next, the leaves go into the pot, one spoon per person. After four minutes, pour. "
    "Finally, add milk if you like it that way."
)
"""Five sentences of tea: long enough to pause, stop or drop the link in the middle of."""
