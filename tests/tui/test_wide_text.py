"""Chinese and Japanese answers at 80 columns: wide characters wrap within the screen, the
spoken sentence's highlight covers exactly its characters, and the export keeps the text."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.cells import cell_len
from textual.geometry import Region
from textual.pilot import Pilot
from textual.strip import Strip
from textual.widgets._markdown import MarkdownParagraph  # not re-exported by textual

from tests.helpers.player import FakePlayer
from tests.helpers.tui_app import ask, scripted_app
from tests.helpers.waiting import wait_for
from tui.app import Talkterm
from tui.link.websocket import Connection
from tui.store import Store, export_markdown

CHINESE = (
    "北京是中华人民共和国的首都，也是全国的政治、文化和国际交往中心。"
    "北京有三千多年的建城史，八百多年的建都史。"
    "故宫、天坛和颐和园都是世界文化遗产，每年吸引数以百万计的游客。"
)
JAPANESE = (
    "東京は日本の首都です。Tokyo has about 14 million people, more than any other city. "
    "人口は約千四百万人で、世界で最も大きな都市の一つです。"
)


def lines_of(block: MarkdownParagraph) -> list[Strip]:
    """The block's rendered lines, as the screen gets them."""
    width, height = block.size
    return block.render_lines(Region(0, 0, width, height))


def highlighted_text(strips: list[Strip]) -> str:
    """The characters drawn in the highlight's bold style."""
    return "".join(seg.text for strip in strips for seg in strip if seg.style and seg.style.bold)


async def play_answer(
    app: Talkterm, player: FakePlayer, pilot: Pilot[None], text: str, spoken: str
) -> None:
    """A scripted answer whose sentence ``spoken`` is being heard."""
    await ask(pilot, app, "说中文")
    await wait_for(pilot, lambda: app.answer is not None)
    app.post_message(Connection.ResponseStarted("resp_1"))
    app.post_message(Connection.ItemStarted("resp_1", "item_1"))
    app.post_message(Connection.TextArrived("resp_1", text))
    start = text.index(spoken)
    app.post_message(Connection.SegmentAnnounced("resp_1", 0, 0, start, 0.0, "audio/pcm", "cmn"))
    app.post_message(Connection.AudioArrived("resp_1", bytes(48_000 * 2)))
    end = start + len(spoken)
    app.post_message(
        Connection.SegmentAnnounced("resp_1", 1, start, end, 1000.0, "audio/pcm", "cmn")
    )
    await wait_for(pilot, lambda: app.answer is not None and app.answer.audio_seen)
    player.position = 1200.0


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        (CHINESE, "北京有三千多年的建城史，八百多年的建都史。"),
        (JAPANESE, "Tokyo has about 14 million people, more than any other city."),
        (JAPANESE, "人口は約千四百万人で、世界で最も大きな都市の一つです。"),
    ],
    ids=["chinese", "japanese-english-run", "japanese"],
)
async def test_wide_characters_wrap_at_80_columns_and_the_highlight_covers_the_sentence(
    tmp_path: Path, text: str, spoken: str
) -> None:
    player = FakePlayer(speed=0)
    db = tmp_path / "chats.db"
    app = scripted_app(player, store_file=db)
    async with app.run_test(size=(80, 24)) as pilot:
        await play_answer(app, player, pilot, text, spoken)
        answer = app.answer
        assert answer is not None
        await wait_for(pilot, lambda: answer.turn.highlighted, what="the highlight")
        await pilot.pause()
        (block,) = answer.turn.query(MarkdownParagraph)
        strips = lines_of(block)
        assert len(strips) >= 2, "a long answer wraps"
        for strip in strips:
            # Every line fills the block exactly: no wide character cut in half or run over.
            assert strip.cell_length == block.size.width <= 80
            assert sum(cell_len(seg.text) for seg in strip) == block.size.width
        shown = [strip.text.rstrip() for strip in strips]
        # Nothing lost or doubled at a wrap (a wrap may eat the space it breaks at).
        assert "".join(shown).replace(" ", "") == text.replace(" ", "")
        assert highlighted_text(strips).replace(" ", "") == spoken.replace(" ", "")
        app.post_message(Connection.ResponseFinished("resp_1", "completed", {}))
        player.position = 10_000.0  # all of it heard
        await wait_for(pilot, lambda: app.answer is None, what="the answer ended")
    with Store(db) as store:
        exported = export_markdown(store)
    assert "说中文" in exported and f"\n{text}\n" in exported
