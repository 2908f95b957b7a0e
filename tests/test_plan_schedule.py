"""Plan expansion (stable ids, interleaving) and load strategies (pure functions of index and seed)."""

from __future__ import annotations

import numpy as np
import pytest

from evals.cards import load_card
from evals.errors import UserInputError
from evals.run.plan import build_plan, cells_of, check_cells, extend_plan
from evals.run.schedule import ClosedLoop, ConstantRate, PoissonRate, make_strategy
from evals.types import InferenceParams, Sample, ScorerSpec, Suite


def _suite(n: int = 5, name: str = "s") -> Suite:
    samples = tuple(Sample(id=f"q{i}", prompt=f"question {i}", answer=str(i)) for i in range(n))
    return Suite(name, "1", "test", samples, InferenceParams(max_tokens=16), (ScorerSpec("exact"),))


CARD = load_card("llama4-maverick")
REGIONS = ("us-east-1", "us-west-2")
APIS = ("converse", "invoke")


def test_plan_covers_every_cell_once_per_sample_and_repeat() -> None:
    plan = build_plan([_suite()], CARD, APIS, REGIONS, ("default",), repeats=3, seed=1)
    assert len(plan) == 5 * 2 * 2 * 3
    keys = {(r.sample.id, r.api, r.region, r.repeat) for r in plan}
    assert len(keys) == len(plan)
    assert len({r.request_id for r in plan}) == len(plan)
    assert [r.index for r in plan] == list(range(len(plan)))
    assert {r.model_id for r in plan} == {"us.meta.llama4-maverick-17b-instruct-v1:0"}


def test_request_ids_are_stable_and_seed_only_changes_order() -> None:
    a = build_plan([_suite()], CARD, APIS, REGIONS, ("default",), repeats=2, seed=1)
    b = build_plan([_suite()], CARD, APIS, REGIONS, ("default",), repeats=2, seed=1)
    c = build_plan([_suite()], CARD, APIS, REGIONS, ("default",), repeats=2, seed=2)
    assert [r.request_id for r in a] == [r.request_id for r in b]
    assert {r.request_id for r in a} == {r.request_id for r in c}
    assert [r.request_id for r in a] != [r.request_id for r in c]


def test_cells_are_interleaved_not_blocked() -> None:
    plan = build_plan([_suite(20)], CARD, APIS, REGIONS, ("default",), repeats=1, seed=3)
    cells = cells_of(plan)
    # every window of len(cells) consecutive requests holds every cell exactly once
    for start in range(0, len(plan), len(cells)):
        window = plan[start : start + len(cells)]
        assert {(r.api, r.region) for r in window} == {(c.api, c.region) for c in cells}
    # and the first cell is not always the same one
    assert len({(plan[i].api, plan[i].region) for i in range(0, len(plan), len(cells))}) > 1


def test_repeats_come_in_order() -> None:
    plan = build_plan([_suite(4)], CARD, APIS, REGIONS, ("default",), repeats=3, seed=0)
    reps = [r.repeat for r in plan]
    assert reps == sorted(reps)


def test_warmup_requests_are_extra_and_flagged() -> None:
    plan = build_plan([_suite(4)], CARD, APIS, REGIONS, ("default",), repeats=1, seed=0, warmup_requests=3)
    assert [r.warmup for r in plan[:3]] == [True] * 3
    assert not any(r.warmup for r in plan[3:])
    assert len(plan) == 3 + 16
    assert len({r.request_id for r in plan}) == len(plan)


def test_extend_plan_cycles_with_new_repeats_and_ids() -> None:
    plan = build_plan([_suite(2)], CARD, APIS, REGIONS, ("default",), repeats=1, seed=0)
    longer = extend_plan(plan, 21)
    assert len(longer) == 21
    assert len({r.request_id for r in longer}) == 21
    assert max(r.repeat for r in longer) == 2
    assert extend_plan(plan, 3) == plan[:3]


def test_check_cells_rejects_unknown_names() -> None:
    with pytest.raises(UserInputError, match="apis"):
        check_cells(CARD, ["conversee"], REGIONS, ["default"])
    with pytest.raises(UserInputError, match="tiers"):
        check_cells(CARD, APIS, REGIONS, ["gold"])


def test_constant_rate_and_poisson_are_pure_functions_of_index() -> None:
    c = ConstantRate(50.0)
    assert c.intended_offset_s(100) == pytest.approx(2.0)
    p1 = PoissonRate(100.0, seed=7, count=20_000)
    p2 = PoissonRate(100.0, seed=7, count=20_000)
    p3 = PoissonRate(100.0, seed=8, count=20_000)
    assert p1.intended_offset_s(0) == 0.0
    assert p1.intended_offset_s(500) == p2.intended_offset_s(500)
    assert p1.intended_offset_s(500) != p3.intended_offset_s(500)
    gaps = np.diff([p1.intended_offset_s(i) for i in range(20_000)])
    assert gaps.mean() == pytest.approx(0.01, rel=0.03)
    # exponential gaps: coefficient of variation near 1
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.05)


def test_make_strategy_validates() -> None:
    assert isinstance(make_strategy("closed", concurrency=3, rate=None, seed=0, count=1), ClosedLoop)
    with pytest.raises(UserInputError, match=r"load\.rate"):
        make_strategy("poisson", concurrency=1, rate=None, seed=0, count=1)
    with pytest.raises(UserInputError, match=r"load\.strategy"):
        make_strategy("bursty", concurrency=1, rate=1.0, seed=0, count=1)
    with pytest.raises(UserInputError, match=r"load\.ramp_s"):
        make_strategy("closed", concurrency=2, rate=None, seed=0, count=1, ramp_s=-0.5)
    with pytest.raises(UserInputError, match=r"load\.ramp_s"):
        make_strategy("poisson", concurrency=1, rate=5.0, seed=0, count=1, ramp_s=1.0)


def test_closed_loop_ramp_spreads_worker_starts_evenly() -> None:
    loop = make_strategy("closed", concurrency=4, rate=None, seed=0, count=1, ramp_s=2.0)
    assert isinstance(loop, ClosedLoop)
    assert [loop.worker_start_s(k) for k in range(4)] == [0.0, 0.5, 1.0, 1.5]
    assert ClosedLoop(4).worker_start_s(3) == 0.0
