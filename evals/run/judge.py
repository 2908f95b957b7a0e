"""The LLM judge's model call: a `complete(prompt) -> text` sent through the same transport as the run.

Scorers stay pure; this module is the one place where scoring may send a request. A judge call that fails
raises `JudgeUnavailable`, and the response is left unscored (never scored as wrong).
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field

from evals.cards import ModelCard
from evals.types import InferenceParams, Request, Sample


class JudgeUnavailable(RuntimeError):
    """The judge model's request failed; the judged response gets no score."""


@dataclass
class JudgeCalls:
    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


@dataclass
class JudgeClient:
    """Sends judge prompts to `card` in `region` through `sender` (a Transport) and counts what they cost."""

    card: ModelCard
    region: str
    api: str
    sender: object  # evals.run.transport.Transport (kept loose: transport imports boto3)
    max_tokens: int = 256
    tally: JudgeCalls = field(default_factory=JudgeCalls)

    def complete(self, prompt: str) -> str:
        digest = hashlib.sha256(prompt.encode()).hexdigest()[:20]
        request = Request(
            request_id=f"judge-{digest}", index=-1, suite="judge", suite_version="1",
            sample=Sample(id=f"judge-{digest}", prompt=prompt), params=InferenceParams(self.max_tokens, 0.0),
            api=self.api, region=self.region, tier="default", model_id=self.card.invocation_id(self.region), repeat=0,
        )
        outcome = self.sender.send(request, time.perf_counter_ns(), {"evals.run.judge": "1"})  # type: ignore[attr-defined]
        with self.tally.lock:
            self.tally.calls += 1
            if outcome.status != "ok" or outcome.reply is None:
                self.tally.errors += 1
            else:
                self.tally.input_tokens += outcome.reply.input_tokens or 0
                self.tally.output_tokens += outcome.reply.output_tokens or 0
        if outcome.status != "ok" or outcome.reply is None:
            raise JudgeUnavailable(f"judge request failed: {outcome.error_code}: {outcome.error_message}")
        return outcome.reply.text
