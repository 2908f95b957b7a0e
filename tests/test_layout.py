"""The package layout shows the flow run -> results -> render, with commands on top: checked on the imports
themselves (function-level ones included), so a late import cannot hide a cycle."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

EVALS = Path(__file__).resolve().parent.parent / "evals"


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node that runs: `if TYPE_CHECKING:` blocks (annotations only) are left out."""
    out, todo = [], [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return out


def _imports() -> dict[str, set[str]]:
    """module -> evals modules it imports anywhere in its body (packages resolved to their __init__)."""
    modules = {".".join(p.relative_to(EVALS.parent).with_suffix("").parts).removesuffix(".__init__"): p
               for p in EVALS.rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                module = ".".join([*base, node.module] if node.module else base)
                targets = [module, *(f"{module}.{a.name}" for a in node.names)]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ("run", "results", "render",
                                                                             "commands")) else ""


def test_results_and_render_never_import_run_or_commands() -> None:
    bad = [(m, t) for m, targets in _imports().items() for t in targets
           if (_layer(m) == "results" and _layer(t) in ("run", "render", "commands"))
           or (_layer(m) == "render" and _layer(t) in ("run", "commands"))
           or (_layer(m) == "run" and _layer(t) == "commands")]
    assert not bad, bad


def test_no_import_cycle_between_results_render_and_commands_modules() -> None:
    graph = _imports()
    layered = {m for m in graph if _layer(m) in ("results", "render", "commands")}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            for nxt in graph.get(node, ()):
                if nxt == goal:
                    return True
                if nxt not in seen and nxt in layered:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    cycles = sorted((m, t) for m in layered for t in graph[m] if t in layered and reaches(t, m))
    assert not cycles, cycles  # e.g. the gate importing compare while compare imports the gate late


MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def test_no_module_or_function_is_too_long_to_read() -> None:
    """One job per module and per function: over 400 lines or 60 lines is a sign of two jobs in one."""
    long_modules, long_functions = [], []
    for path in sorted(EVALS.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = str(path.relative_to(EVALS.parent))
        if text.count("\n") > MAX_MODULE_LINES:
            long_modules.append((name, text.count("\n")))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append((f"{name}:{node.name}", length))
    assert not long_modules, long_modules
    assert not long_functions, long_functions
