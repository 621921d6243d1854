"""The shape of the code, held as tests: no import cycles, no giant modules, layers one way.

Imports are read from the source (every `import`, including those inside functions and behind
TYPE_CHECKING: a cycle hidden from the interpreter is still a cycle in the design).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("harness", "mocks")
MAX_LINES = 600

# Layers that judge or describe must never reach into the engine or the mock network.
FOUNDATION = ("harness.beckn", "harness.checks", "harness.transcript", "harness.rules",
              "harness.findings", "harness.schemas", "harness.paths")
# Who may bring the mock network up, through each party's public face (the package itself).
MAY_USE_MOCKS = ("harness.certify", "harness.network", "harness.reference",
                 "harness.party_process")  # the last: the network's BPP in its own process
PARTIES = ("mocks.bap", "mocks.bpp", "mocks.cds", "mocks.charger", "mocks.registry",
           "mocks.stack")
# What a mock may use of the harness: the kernel and the evidence log, never the engine; and
# the TLS context every HTTP client shares (harness/tls.py, a leaf that imports nothing of ours).
MOCKS_MAY_IMPORT = ("harness.beckn", "harness.transcript", "harness.schemas",
                    "harness.findings", "harness.rules", "harness.paths", "harness.tls")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _imports(name: str, path: Path) -> Iterator[str]:
    """The project modules `name` imports, resolved to modules where a name is one."""
    return _imports_of(name, path, ast.parse(path.read_text(encoding="utf-8")))


def _imports_of(name: str, path: Path, tree: ast.AST) -> Iterator[str]:
    """The project modules the imports in `tree` (of module `name`, at `path`) name."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


GRAPH = {name: set(_imports(name, path)) for name, path in MODULES.items()}


def _reachable(start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for target in GRAPH.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_the_import_graph_sees_the_whole_project() -> None:
    assert "harness.certify.journey" in MODULES and "mocks.stack.inbox" in MODULES
    assert "harness.beckn.envelope" in GRAPH["harness.checks.refusal"]


def test_no_import_cycles() -> None:
    cycles = sorted(name for name in MODULES if name in _reachable(name)
                    # a package face re-exporting its own modules is not a cycle of design
                    and MODULES[name].name != "__init__.py")
    assert cycles == [], f"modules that import themselves through others: {cycles}"


def test_no_module_over_600_lines() -> None:
    big = {name: n for name, path in MODULES.items()
           if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert big == {}, f"split these by concept: {big}"


def test_judgement_and_kernel_never_reach_the_engine_or_the_mocks() -> None:
    bad = {name: sorted(t for t in _reachable(name)
                        if _within(t, ("mocks", "harness.certify")))
           for name in MODULES if _within(name, FOUNDATION)}
    assert {k: v for k, v in bad.items() if v} == {}


def test_the_kernel_is_the_kernel() -> None:
    bad = {name: sorted(t for t in GRAPH[name] if not _within(t, ("harness.beckn",)))
           for name in MODULES if _within(name, ("harness.beckn",))}
    assert {k: v for k, v in bad.items() if v} == {}


def test_only_the_engine_and_network_bring_up_use_the_mocks_through_their_faces() -> None:
    users = {name: sorted(t for t in GRAPH[name] if _within(t, ("mocks",)))
             for name in MODULES if _within(name, ("harness",))}
    users = {k: v for k, v in users.items() if v}
    assert all(_within(name, MAY_USE_MOCKS) for name in users), users
    deep = {k: [t for t in v if t not in PARTIES] for k, v in users.items()}
    assert {k: v for k, v in deep.items() if v} == {}, "import a party's package, not its insides"


def test_mocks_use_only_the_kernel_and_the_evidence_log_of_the_harness() -> None:
    bad = {name: sorted(t for t in GRAPH[name]
                        if _within(t, ("harness",)) and not _within(t, MOCKS_MAY_IMPORT))
           for name in MODULES if _within(name, ("mocks",))}
    assert {k: v for k, v in bad.items() if v} == {}


def test_findings_are_built_only_by_checks() -> None:
    builders = []
    for name, path in MODULES.items():
        if _within(name, ("harness.checks", "harness.findings", "harness.schemas")):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Finding":
                builders.append(f"{name}:{node.lineno}")
    assert builders == [], f"build findings in harness/checks/: {builders}"


def _loaded_with(name: str) -> set[str]:
    """The project modules importing `name` runs: those its statements import as it loads (not
    those its functions import when called, nor those behind TYPE_CHECKING), their packages,
    and theirs in turn."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        module = todo.pop()
        if module in seen or module not in MODULES:
            continue
        seen.add(module)
        todo += [module.rpartition(".")[0]] if "." in module else []
        body = ast.parse(MODULES[module].read_text(encoding="utf-8")).body
        while body:
            node = body.pop()
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                body += node.orelse
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                todo += _imports_of(module, MODULES[module], node)
            elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body += [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt)]
    return seen


def test_the_command_line_loads_no_engine_until_a_command_runs() -> None:
    """Every `ubc-cert` command builds the whole parser first: what that loads must stay light,
    each command importing its engine when it runs, or `ubc-cert audit` and
    `verify-certificate` pay for `run` (half a second of CPU each)."""
    heavy = sorted(m for m in _loaded_with("harness.cli")
                   if _within(m, ("harness.certify", "harness.network", "harness.run",
                                  "harness.audit", "harness.load.command", "mocks")))
    assert heavy == []
