"""What a run's numbers depend on, recorded so a resume can prove it sends the same run.

A run directory stores its config with every path made absolute (so resuming from another working directory
reads the same files) and a fingerprint: a digest of each suite's loaded data, of the model card as used and as
the emulator reads it from disk, and of the config. A resume recomputes the fingerprint and refuses, naming
what changed, unless `run.resume_force=true`. Spend is recounted from the records themselves, so budget caps hold
across every session, kill -9 included.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, MutableMapping, MutableSequence
from pathlib import Path
from typing import Any

from evals.cards import Pricing
from evals.errors import UserInputError
from evals.paths import MODEL_CARD_DIR
from evals.types import Suite

# config keys that name files, made absolute before they are saved (dotted path inside the config)
PATH_KEYS = ("run.out_dir", "target.endpoints_file", "suite.path", "suite.definition", "suite.dataset.path",
             "suite.dataset.cache_dir", "suite.dataset.data_files")
# config keys that may differ between sessions without changing what is measured
SESSION_KEYS = {"resume", "resume_force", "progress", "report", "history", "drain_timeout_s", "dry_run", "preflight"}


def _absolute(value: Any, key: str) -> Any:
    if not isinstance(value, str) or not value:
        return value
    path = Path(value).expanduser()
    if key == "suite.definition" and path.suffix not in (".yaml", ".yml"):
        return value  # a built-in definition's name, not a file
    if key == "suite.dataset.path" and not path.exists():
        return value  # a hub dataset id, not a local directory
    return str(path.resolve())


def absolute_paths(config: MutableMapping[str, Any]) -> None:
    """Make every file path in a plain config mapping absolute, in place (a suite list: each suite)."""
    for dotted in PATH_KEYS:
        head, *rest = dotted.split(".")
        nodes = config.get(head)
        for node in nodes if isinstance(nodes, MutableSequence) else [nodes]:
            *parents, leaf = rest
            for part in parents:
                node = node.get(part) if isinstance(node, MutableMapping) else None
            if isinstance(node, MutableMapping) and leaf in node:
                node[leaf] = _absolute(node[leaf], dotted)


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, default=str, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def suite_digest(suite: Suite) -> str:
    """The loaded items as sent and scored: ids, prompts, answers, images (by content), parameters, scorers."""
    items = [[s.id, s.prompt, s.system, s.answer, s.cluster, dict(s.meta),
              [[i.format, hashlib.sha256(i.data).hexdigest(), i.width, i.height] for i in s.images]]
             for s in suite.samples]
    return _digest([suite.name, suite.version, repr(suite.params),
                    [[sc.name, dict(sc.params)] for sc in suite.scorers], items])


def _card_file_digest(name: str) -> str | None:
    path = MODEL_CARD_DIR / f"{name}.yaml"
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def fingerprint(config: Mapping[str, Any], suites: Iterable[Suite]) -> dict[str, Any]:
    """Digests of the inputs a run's numbers depend on (run.json `fingerprint`)."""
    run = {k: v for k, v in (config.get("run") or {}).items() if k not in SESSION_KEYS}
    model = config.get("model") or {}
    return {
        "suites": {s.name: suite_digest(s) for s in suites},
        "model_card": _digest(model),
        "model_card_name": str(model.get("name")),
        "model_card_file": _card_file_digest(str(model.get("name"))),
        "config": _digest({**{k: v for k, v in config.items() if k not in ("run", "model")}, "run": run}),
    }


def what_changed(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Plain-words list of the inputs whose digests differ."""
    changed = []
    saved_suites, now_suites = saved.get("suites") or {}, current.get("suites") or {}
    for name in sorted(set(saved_suites) | set(now_suites)):
        if saved_suites.get(name) != now_suites.get(name):
            changed.append(f"suite {name!r} data")
    if saved.get("model_card") != current.get("model_card"):
        changed.append("the model card in the saved config")
    if saved.get("model_card_file") != current.get("model_card_file"):
        changed.append(f"the model card file {MODEL_CARD_DIR / (str(current.get('model_card_name')) + '.yaml')}")
    if saved.get("config") != current.get("config"):
        changed.append("the saved config")
    return changed


def check_resume(run_file: Path, saved: Mapping[str, Any] | None, current: Mapping[str, Any], force: bool) -> None:
    """Refuse a resume whose inputs changed since the run started, unless forced."""
    if not isinstance(saved, Mapping):
        if not force:
            raise UserInputError(f"{run_file}: no input fingerprint to check the resume against; "
                                 "run.resume_force=true resumes anyway")
        return
    changed = what_changed(saved, current)
    if changed and not force:
        raise UserInputError(f"run.resume: {', '.join(changed)} changed since the run started; the resumed run "
                             "would mix two versions (run.resume_force=true resumes anyway)")


def spent_in_records(records: Iterable[Mapping[str, Any]], pricing: Pricing) -> tuple[int, float]:
    """Tokens and estimated cost of every recorded request (every earlier session of a run)."""
    tokens, cost = 0, 0.0
    for rec in records:
        i, o = rec.get("input_tokens"), rec.get("output_tokens")
        i, o = (i if isinstance(i, int) else 0), (o if isinstance(o, int) else 0)
        tokens += i + o
        cost += pricing.cost(i, o)
    return tokens, cost
