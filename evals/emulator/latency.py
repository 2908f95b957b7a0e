"""Latency model: what to wait before the first byte and between tokens, per profile.

`realistic`: client RTT to the listener's region + inter-region hop to the routed destination + TTFT growing
with input tokens and image megapixels + decode at the card's rate, all with lognormal jitter (card `emulator:`
calibration, conf/emulator/network.yaml). `fixed`: a known first-token and total time. `zero`: no waiting.
`latency_scale` multiplies every delay.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.cards import ModelCard
from evals.emulator.options import EmulatorOptions
from evals.yamlfile import read_yaml_mapping

DEFAULT_CALIBRATION = {
    "ttft_base_ms": 300.0,
    "ttft_per_1k_input_ms": 20.0,
    "ttft_per_megapixel_ms": 100.0,
    "decode_tokens_per_s": 100.0,
    "jitter_sigma": 0.2,
}


@dataclass(frozen=True)
class Plan:
    """Server-side delays in seconds (inside the server's own latency figure)."""

    first_token_s: float  # server-side, from processing start to the first token
    gaps_s: tuple[float, ...]  # between consecutive tokens after the first

    @property
    def server_total_s(self) -> float:
        return self.first_token_s + sum(self.gaps_s)


ZERO_PLAN = Plan(0.0, ())


def load_network(path: Path) -> dict[str, Any]:
    return read_yaml_mapping(path, "network table", empty_ok=True)


class LatencyModel:
    def __init__(self, options: EmulatorOptions) -> None:
        self.profile = options.latency_profile
        self.scale = options.latency_scale
        self.fixed_total_s = options.fixed_latency_ms / 1000
        self.fixed_ttft_s = options.fixed_ttft_ms / 1000
        self.network = load_network(options.network_path()) if self.profile == "realistic" else {}

    def network_s(self, region: str) -> float:
        """Client round trip to the listener's region, waited before the server starts its own clock."""
        if self.profile != "realistic":
            return 0.0
        return self.rtt_ms(region) / 1000 * self.scale

    def rtt_ms(self, region: str) -> float:
        return float(self.network.get("client_rtt_ms", {}).get(region, self.network.get("default_rtt_ms", 80)))

    def inter_region_ms(self, source: str, dest: str) -> float:
        table = self.network.get("inter_region_ms", {}).get(source, {})
        if source == dest:
            return 0.0
        return float(table.get(dest, self.network.get("default_inter_region_ms", 40)))

    def plan(self, card: ModelCard, region: str, destination: str, input_tokens: int, megapixels: float,
             output_tokens: int, rng: random.Random, streaming: bool) -> Plan:
        """Delays for one request; `rng` is the request's seeded generator."""
        if self.profile == "zero" or self.scale == 0:
            return ZERO_PLAN
        if self.profile == "fixed":
            if not streaming or output_tokens <= 1:
                return Plan(self.fixed_total_s * self.scale, ())
            first = min(self.fixed_ttft_s, self.fixed_total_s) * self.scale
            gap = max(0.0, self.fixed_total_s * self.scale - first) / (output_tokens - 1)
            return Plan(first, (gap,) * (output_tokens - 1))
        cal = {**DEFAULT_CALIBRATION, **card.emulator}
        sigma = cal["jitter_sigma"]

        def jitter() -> float:
            return math.exp(rng.gauss(0.0, sigma) - sigma * sigma / 2)  # mean 1

        ttft_ms = (cal["ttft_base_ms"] + cal["ttft_per_1k_input_ms"] * input_tokens / 1000
                   + cal["ttft_per_megapixel_ms"] * megapixels) * jitter()
        hop_ms = 2 * self.inter_region_ms(region, destination)
        per_token_s = 1.0 / cal["decode_tokens_per_s"]
        gaps = tuple(per_token_s * jitter() * self.scale for _ in range(max(0, output_tokens - 1)))
        return Plan((ttft_ms + hop_ms) / 1000 * self.scale, gaps)
