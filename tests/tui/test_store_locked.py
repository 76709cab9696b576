"""Another process holding the chat store's write lock never freezes the keys."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from tests.helpers.tui_app import scripted_app
from tests.helpers.waiting import wait_for
from tui.link.websocket import Connection
from tui.store import Store
from tui.widgets.prompt_box import PromptBox

HOLD_S = 3.0
# Holds SQLite's write lock (BEGIN IMMEDIATE) for HOLD_S seconds, as another talkterm
# writing a long transaction would; says "locked" once it has it.
LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""


def stored(path: Path) -> list[tuple[str, str]]:
    """(role, status) of every turn of the most recent conversation."""
    with Store(path) as store:
        last = store.last()
        return [] if last is None else [(t.role, t.status) for t in last.turns]


async def test_keys_keep_working_while_another_process_holds_the_store(tmp_path: Path) -> None:
    db = tmp_path / "chats.db"
    Store(db).close()  # the file exists, in WAL mode, before the other process locks it
    app = scripted_app(store_file=db)
    async with app.run_test(size=(100, 24)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected" and app.audio_ok)
        locker = await asyncio.create_subprocess_exec(
            sys.executable, "-c", LOCKER, str(db), str(HOLD_S), stdout=asyncio.subprocess.PIPE
        )
        try:
            assert locker.stdout is not None
            assert (await locker.stdout.readline()).strip() == b"locked"
            locked_at = time.monotonic()
            # Ask: the question's write now waits for the lock on the store thread.
            app.query_one(PromptBox).text = "Is the kettle on?"
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.answer is not None, what="answer started")
            app.post_message(Connection.ResponseStarted("resp_1"))
            app.post_message(Connection.ItemStarted("resp_1", "item_1"))
            app.post_message(Connection.TextArrived("resp_1", "It is."))
            await wait_for(pilot, lambda: app.answer and app.answer.item_id == "item_1")
            await pilot.press("f5")
            assert app.state == "paused"
            await pilot.press("f5")
            assert app.state == "streaming"
            await pilot.press("escape")  # the stopped answer's write queues behind the question
            await wait_for(pilot, lambda: app.state != "streaming", what="stopped")
            # Every key above was handled while the lock was still held.
            assert time.monotonic() - locked_at < HOLD_S, "keys waited for the store"
            assert locker.returncode is None, "the lock was released before the keys were tried"
        finally:
            await asyncio.wait_for(locker.wait(), HOLD_S + 10)
        # Once the lock is free, both turns are written, in order.
        await wait_for(pilot, lambda: len(stored(db)) == 2, what="turns written", timeout=15)
    assert stored(db) == [("user", "complete"), ("assistant", "stopped")]
