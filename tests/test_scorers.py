"""Golden cases for every scorer, ugly responses included (prose, markdown, punctuation, ambiguity)."""

from __future__ import annotations

import json

import pytest

from evals.errors import UserInputError
from evals.run.judge import JudgeUnavailable
from evals.scorers import (
    JudgeScorer,
    choice_letter,
    extract_json,
    get_scorer,
    normalize,
    score_response,
    scorer_names,
    validate_scorer_specs,
)
from evals.types import Sample, ScorerSpec


def s(answer: object = None, **meta: object) -> Sample:
    return Sample(id="x", prompt="p", answer=answer, meta=meta)


def score(name: str, answer: object, text: str, **params: object) -> float:
    return get_scorer(name)(s(answer), text, **params)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Paris", 1.0), ("  Paris\n", 1.0), ("paris", 0.0), ("Paris.", 0.0), ("", 0.0)],
)
def test_exact(text: str, expected: float) -> None:
    assert score("exact", "Paris", text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Paris", 1.0),
        ("paris.", 1.0),
        ("**Paris**", 1.0),
        ('"Paris"', 1.0),
        ("'Paris!'", 1.0),
        ("```\nParis\n```", 1.0),
        ("`PARIS`", 1.0),
        ("  Paris  ,", 1.0),
        ("The answer is Paris.", 0.0),
        ("Lyon", 0.0),
        ("", 0.0),
    ],
)
def test_normalized_exact(text: str, expected: float) -> None:
    assert score("normalized_exact", "Paris", text) == expected


def test_normalized_exact_lenient_and_alternatives() -> None:
    assert score("normalized_exact", "Paris", "The answer is Paris.", lenient=True) == 1.0
    assert score("normalized_exact", "Paris", "Let me think.\nParis", lenient=True) == 1.0
    assert score("normalized_exact", "Paris", "Final answer: **paris**", lenient=True) == 1.0
    assert score("normalized_exact", "Paris", "Paris is not it.\nAnswer: Lyon", lenient=True) == 0.0
    assert score("normalized_exact", ["NYC", "New York City"], "new york city") == 1.0
    assert normalize("  Hello   World!! ") == "hello world"


def test_regex() -> None:
    assert score("regex", "42", "blah ANSWER: 42 done", pattern=r"answer:\s*(\d+)") == 1.0
    assert score("regex", "42", "answer: 41, then answer: 42", pattern=r"answer:\s*(\d+)") == 1.0  # last wins
    assert score("regex", "42", "answer: 41", pattern=r"answer:\s*(\d+)") == 0.0
    assert score("regex", None, "ok done", pattern=r"\bdone\b") == 1.0
    assert score("regex", None, "nothing", pattern=r"\bdone\b") == 0.0


@pytest.mark.parametrize(
    ("answer", "text", "params", "expected"),
    [
        (1234, "The answer is 1,234.", {}, 1.0),
        (1234, "**1234**", {}, 1.0),
        (-42, "I get -42", {}, 1.0),
        (-7, "The result: −7", {}, 1.0),
        (0.75, "x = 3/4", {}, 1.0),
        (45, "about 45%", {}, 1.0),
        (1200.5, "It costs $1,200.50 in total.", {}, 1.0),
        (4, "2 + 2 = 4", {}, 1.0),
        (12, "First 10, then 11; the answer is 12.", {}, 1.0),
        (12, "The answer is 13.", {}, 0.0),
        (100, "99.95", {"rel_tol": 0.001}, 1.0),
        (100, "99.8", {"rel_tol": 0.001}, 0.0),
        (85, "about 83", {"abs_tol": 2.5}, 1.0),
        (85, "80", {"abs_tol": 2.5}, 0.0),
        (12, "12 apples, 3 pears", {"pick": "any"}, 1.0),
        ("3.5", "3.50", {}, 1.0),
        (5, "five", {}, 0.0),
        (5, "", {}, 0.0),
    ],
)
def test_numeric(answer: object, text: str, params: dict, expected: float) -> None:
    assert score("numeric", answer, text, **params) == expected


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("B", "B"),
        ("b", "B"),
        ("(B)", "B"),
        ("B.", "B"),
        ("**B**", "B"),
        ("B) Paris", "B"),
        ("The answer is (B).", "B"),
        ("Answer: b", "B"),
        ("**Answer: D**", "D"),
        ("The correct choice is **B**.", "B"),
        ("A quick look shows the answer is (D).", "D"),
        ("I think the answer is C because it is the largest.", "C"),
        ("Option C is correct.", "C"),
        ("I'd go with (c)", "C"),
        ("A. Venus", "A"),
        ("A or B", None),
        ("The answer is A or B", None),
        ("It's either B or C.", None),
        ("C and D are both plausible", None),
        ("The answer is a city", None),
        ("I don't know", None),
        ("", None),
    ],
)
def test_choice_letter(text: str, letter: str | None) -> None:
    assert choice_letter(text) == letter
    assert score("choice", "B", text) == float(letter == "B")


def test_contains_all_of_token_f1() -> None:
    assert score("contains", "amber-falcon-4821", "The passphrase is **amber-falcon-4821**.") == 1.0
    assert score("contains", "amber-falcon-4821", "The passphrase is amber-falcon-4812.") == 0.0
    assert score("contains", "Paris", "PARIS") == 1.0
    assert score("contains", "Paris", "PARIS", ignore_case=False) == 0.0
    assert score("all_of", ["red", "blue"], "Red and BLUE") == 1.0
    assert score("all_of", ["red", "blue"], "red only") == 0.0
    assert score("all_of", None, "x y", values=["x", "y"]) == 1.0
    assert score("token_f1", "the Eiffel Tower", "Eiffel Tower") == 1.0
    assert score("token_f1", "Eiffel Tower", "the tower") == pytest.approx(2 / 3)
    assert score("token_f1", "Eiffel Tower", "Louvre") == 0.0


SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "year": {"type": "integer"}},
    "required": ["name", "year"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"name": "x", "year": 1999}', 1.0),
        ('```json\n{"name": "x", "year": 1999}\n```', 1.0),
        ('Sure! Here it is:\n{"name": "x", "year": 1999}\nHope that helps.', 1.0),
        ('{"name": "x", "year": "1999"}', 0.0),
        ('{"name": "x"}', 0.0),
        ('{"name": "x", "year": 1999, "extra": 1}', 0.0),
        ("no json here", 0.0),
        ("{broken", 0.0),
    ],
)
def test_json_schema(text: str, expected: float) -> None:
    assert score("json_schema", SCHEMA, text) == expected
    assert get_scorer("json_schema")(s(), text, schema=SCHEMA) == expected


def test_extract_json_prefers_fence() -> None:
    assert extract_json('{"a": 1}\n```json\n{"b": 2}\n```') == {"b": 2}
    assert extract_json("list: [1, 2]") == [1, 2]


CHECKS = [
    ({"type": "word_count", "max": 5}, "one two three four five", "one two three four five six"),
    ({"type": "word_count", "min": 3}, "one two three", "one two"),
    ({"type": "sentence_count", "min": 2, "max": 2}, "One. Two!", "One. Two. Three."),
    ({"type": "bullet_count", "n": 3}, "- a\n- b\n* c", "- a\n- b"),
    ({"type": "paragraph_count", "n": 2}, "a b\n\nc d", "a b\nc d"),
    ({"type": "include_words", "words": ["Tradition"]}, "our tradition holds", "our traditions hold"),
    ({"type": "forbid_words", "words": ["very"]}, "quite good", "Very good"),
    ({"type": "case", "case": "lower"}, "all lower 123.", "Not lower"),
    ({"type": "case", "case": "upper"}, "ALL UPPER!", "ALL UPPEr"),
    ({"type": "starts_with", "text": "Today"}, "**Today**, we go", "We go today"),
    ({"type": "ends_with", "text": "Anything else?"}, "Done. Anything else?", "Anything else? Done."),
    ({"type": "json_schema", "schema": SCHEMA}, '{"name": "n", "year": 1}', '{"name": 1}'),
]


@pytest.mark.parametrize(("check", "good", "bad"), CHECKS, ids=[f"{c['type']}-{i}" for i, (c, *_) in enumerate(CHECKS)])
def test_instruction_checks(check: dict, good: str, bad: str) -> None:
    assert get_scorer("instructions")(s([check]), good) == 1.0
    assert get_scorer("instructions")(s([check]), bad) == 0.0
    params = {k: v for k, v in check.items() if k != "type"}
    assert get_scorer(check["type"])(s(), good, **params) == 1.0


def test_instructions_modes() -> None:
    checks = [{"type": "word_count", "max": 3}, {"type": "case", "case": "lower"}]
    assert get_scorer("instructions")(s(checks), "Two Words") == 0.0
    assert get_scorer("instructions")(s(checks), "Two Words", mode="fraction") == 0.5
    assert get_scorer("instructions")(s(checks), "") == 0.0


def test_per_item_uses_sample_meta() -> None:
    numeric = s(12, scorer="numeric", scorer_params={"abs_tol": 1})
    assert get_scorer("per_item")(numeric, "about 13") == 1.0
    word = s("Sunday", scorer="normalized_exact", scorer_params={"lenient": True})
    assert get_scorer("per_item")(word, "Answer: Sunday") == 1.0
    assert get_scorer("per_item")(s("x"), "X.") == 1.0  # default normalized_exact


def test_score_response_order_and_duplicates() -> None:
    specs = [ScorerSpec("choice"), ScorerSpec("contains"), ScorerSpec("contains", {"value": "zzz"})]
    out = score_response(specs, s("B"), "The answer is (B).")
    assert list(out) == ["choice", "contains", "contains#2"]
    assert out == {"choice": 1.0, "contains": 1.0, "contains#2": 0.0}


def test_validate_scorer_specs() -> None:
    validate_scorer_specs([ScorerSpec("numeric", {"abs_tol": 1}), ScorerSpec("judge", {"rubric": "r"})], "f.yaml")
    with pytest.raises(UserInputError, match=r"f.yaml: scorers\[0\]: unknown scorer 'nope'"):
        validate_scorer_specs([ScorerSpec("nope")], "f.yaml")
    with pytest.raises(UserInputError, match=r"scorers\[1\]: scorer 'numeric' has no parameter 'tol'"):
        validate_scorer_specs([ScorerSpec("exact"), ScorerSpec("numeric", {"tol": 1})], "f.yaml")
    with pytest.raises(UserInputError, match=r"scorer 'bullet_count' needs parameter 'n'"):
        validate_scorer_specs([ScorerSpec("bullet_count")], "f.yaml")
    with pytest.raises(UserInputError, match="bad regex"):
        validate_scorer_specs([ScorerSpec("regex", {"pattern": "("})], "f.yaml")
    with pytest.raises(UserInputError, match="needs a judge"):
        score_response([ScorerSpec("judge")], s("x"), "x")
    assert {"exact", "normalized_exact", "numeric", "choice", "json_schema", "instructions", "judge"} <= set(
        scorer_names()
    )


def test_judge_scorer_with_plain_callable() -> None:
    prompts: list[str] = []

    def complete(prompt: str) -> str:
        prompts.append(prompt)
        return "The response matches.\nVERDICT: CORRECT" if "Paris" in prompt.split("RESPONSE:")[1] else (
            "Wrong city.\n**Verdict:** INCORRECT"
        )

    judge = JudgeScorer(complete)
    sample = Sample(id="q", prompt="Capital of France?", answer="Paris")
    assert judge(sample, "It is Paris, of course.") == 1.0
    assert judge(sample, "Lyon") == 0.0
    assert "REFERENCE:\nParis" in prompts[0] and "TASK:\nCapital of France?" in prompts[0]
    assert judge(sample, "") == 0.0 and len(prompts) == 2  # empty answers never reach the judge
    with pytest.raises(JudgeUnavailable, match="no verdict"):  # unscored, never scored as wrong
        JudgeScorer(lambda p: "no verdict here")(sample, "Paris")
    graded = JudgeScorer(lambda p: "partly right\nSCORE: 0.5", graded=True)
    assert graded(sample, "Paris-ish") == 0.5
    out = score_response([ScorerSpec("judge", {"rubric": "Be strict."})], sample, "Paris", judge=judge)
    assert out == {"judge": 1.0} and "RUBRIC:\nBe strict." in prompts[-1]


def test_scores_stay_in_unit_interval() -> None:
    for name in ("exact", "normalized_exact", "contains", "token_f1", "choice", "numeric"):
        for text in ("", "B", "42", "x" * 50, json.dumps({"a": 1})):
            assert 0.0 <= get_scorer(name)(s("B"), text) <= 1.0
