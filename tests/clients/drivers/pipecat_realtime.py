"""pipecat's OpenAIRealtimeLLMService with its defaults, pointed at talkterm: run in the
framework's own venv by tests/clients/test_pipecat.py; prints one JSON report.

One answer is asked for through an LLM context, as a pipeline does; at its first audio
an interruption goes down the pipeline, as when the user starts speaking.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from pipecat.frames.frames import (
    EndFrame,
    ErrorFrame,
    Frame,
    InterruptionFrame,
    LLMContextFrame,
    LLMTextFrame,
    OutputAudioRawFrame,
    TTSTextFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import PipelineRunner
from pipecat.pipeline.task import PipelineTask
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService


class Collector(FrameProcessor):
    """What reaches the end of the pipeline: audio, text and errors."""

    def __init__(self, task: asyncio.Future[PipelineTask]) -> None:
        super().__init__()
        self.report: dict[str, Any] = {"errors": [], "audio_bytes": 0, "text": ""}
        self.interrupted_at: float | None = None
        self._task = task

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Record the frame and pass it on; interrupt at the first audio."""
        await super().process_frame(frame, direction)
        if isinstance(frame, ErrorFrame):
            self.report["errors"].append(str(frame.error))
        elif isinstance(frame, OutputAudioRawFrame):
            self.report["audio_bytes"] += len(frame.audio)
            if self.interrupted_at is None:
                self.interrupted_at = time.monotonic()
                # The same clock as the fake upstream's (CLOCK_MONOTONIC): the test compares.
                self.report["interrupted_at"] = time.perf_counter()
                task = self._task.result()
                await task.queue_frame(InterruptionFrame())
        elif isinstance(frame, LLMTextFrame) and not isinstance(frame, TTSTextFrame):
            self.report["text"] += frame.text
        await self.push_frame(frame, direction)


async def main(url: str) -> None:
    """Ask once, interrupt at the first audio, watch 2 s of silence, report."""
    llm = OpenAIRealtimeLLMService(
        api_key="unused",
        base_url=url,
        settings=OpenAIRealtimeLLMService.Settings(system_instruction="Answer like a pirate."),
    )
    made: asyncio.Future[PipelineTask] = asyncio.get_running_loop().create_future()
    collector = Collector(made)
    task = PipelineTask(Pipeline([llm, collector]))
    made.set_result(task)
    context = LLMContext(messages=[{"role": "user", "content": "Tell me a long story."}])
    await task.queue_frame(LLMContextFrame(context))
    runner = PipelineRunner(handle_sigint=False)
    running = asyncio.create_task(runner.run(task))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not collector.report["errors"]:
        at = collector.interrupted_at
        if at is not None and time.monotonic() - at > 2:
            break
        await asyncio.sleep(0.05)
    await task.queue_frame(EndFrame())
    await asyncio.wait_for(running, 10)
    collector.report["interrupted"] = collector.interrupted_at is not None
    print(json.dumps(collector.report))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
