"""The emulator's shared state: options, cards, secrets, engine, latency, quotas, faults and counters."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from evals.cards import ModelCard, card_from_mapping, load_cards
from evals.emulator.auth import Secrets
from evals.emulator.engines import Engine
from evals.emulator.faults import FaultInjector
from evals.emulator.latency import LatencyModel
from evals.emulator.options import EmulatorOptions
from evals.emulator.quotas import QuotaBook
from evals.emulator.stats import Stats
from evals.errors import UserInputError
from evals.paths import MODEL_CARD_DIR


@dataclass
class App:
    """State shared by all listeners of one emulator."""

    options: EmulatorOptions
    cards: dict[str, ModelCard]
    secrets: Secrets
    engine: Engine
    latency: LatencyModel
    quotas: QuotaBook
    faults: FaultInjector
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    stats: Stats = field(default_factory=Stats)

    @classmethod
    def build(cls, options: EmulatorOptions) -> App:
        creds = options.credentials
        secrets_ = Secrets(
            access_key_id=creds.access_key_id or "AKIAEMU" + secrets.token_hex(6).upper(),
            secret_access_key=creds.secret_access_key or secrets.token_urlsafe(30),
            api_key=creds.api_key or "bedrock-api-key-" + secrets.token_urlsafe(32),
        )
        card_dir = options.model_card_dir() or MODEL_CARD_DIR
        cards = load_cards(card_dir)
        cards.update((card.name, card) for card in (card_from_mapping(c, f"emulator cards[{i}]")
                                                   for i, c in enumerate(options.cards)))
        if not cards:
            raise UserInputError(f"card_dir: no model cards (*.yaml) in {card_dir}")
        return cls(
            options=options,
            cards=cards,
            secrets=secrets_,
            engine=Engine(options.engine, options.seed, options.oracle_accuracy),
            latency=LatencyModel(options),
            quotas=QuotaBook(options.quota_scale, options.quotas, options.retry_after_ms),
            faults=FaultInjector(options.faults, options.seed, options.retry_after_ms),
        )

    def reset(self) -> None:
        self.stats.reset()
        self.quotas.reset()
