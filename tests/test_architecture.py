"""The layout's rules, checked on the source: imports point down only, no cycles, small modules."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "umelib"
ROOT_README = PKG.parent / "README.md"

# Rank of each part of the library: a module may import lower ranks and its own part, nothing else.
# (Top-level modules are parts of their own; errors sits under the other bottom modules, evaluate under methods.)
RANKS = {"errors": 0, "verdicts": 0, "config": 0.5, "files": 0.5, "provenance": 0.5, "texts": 0.5, "paths": 0.5, "protocols": 0.75,
         "datasets": 1, "models": 1, "theory": 1,
         "training": 2, "evaluate": 3, "methods": 3.5, "experiments": 4, "paper": 5, "cli": 6}
BOOK_ONLY = ("pandas", "matplotlib", "seaborn", "IPython")  # presentation libraries: umelib.paper alone imports them
EXEMPT = {"umelib", "umelib.__main__"}  # the package root re-exports the public API


def modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = ["umelib", *p.relative_to(PKG).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def imports_of(name: str, path: Path, known: set[str], top_level_only: bool = False,
               prefix: tuple[str, ...] = ("umelib",)) -> set[str]:
    """Every module under ``prefix`` that ``name`` imports, at module level or inside functions (only at module
    level with ``top_level_only``)."""
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    tree = ast.parse(path.read_text())
    for node in (tree.body if top_level_only else ast.walk(tree)):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                stem = base[:len(base) - node.level + 1]
                mod = ".".join(stem + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        else:
            continue
        found |= {t for t in targets if any(t == p or t.startswith(p + ".") for p in prefix)}
    return found


def part(mod: str) -> str:
    return mod.split(".")[1] if mod.count(".") else mod


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: imports_of(m, p, set(mods)) - {m} for m, p in mods.items()}


def test_every_part_has_a_rank():
    assert {part(m) for m in modules()} - EXEMPT - {"__main__"} <= set(RANKS), "a new part of umelib needs a rank here"


def test_imports_point_down():
    bad = []
    for mod, deps in graph().items():
        if mod in EXEMPT:
            continue
        for d in deps:
            if d in EXEMPT:
                bad.append(f"{mod} -> {d} (the package root)")
                continue
            a, b = part(mod), part(d)
            if a == b:
                continue
            if RANKS[b] >= RANKS[a]:
                bad.append(f"{mod} -> {d}")
            if a == "theory" and RANKS[b] >= 1:
                bad.append(f"{mod} -> {d} (theory imports only the bottom modules)")
    assert not bad, "upward or sideways imports:\n" + "\n".join(sorted(bad))


def test_only_the_cli_reaches_into_the_paper_and_only_lazily():
    """umelib.paper sits on top: the library never imports it; the CLI may, inside a command's function."""
    mods = modules()
    bad = []
    for mod, path in mods.items():
        if part(mod) == "paper" or mod in EXEMPT:
            continue
        anywhere = {d for d in imports_of(mod, path, set(mods)) if part(d) == "paper"}
        at_top = {d for d in imports_of(mod, path, set(mods), top_level_only=True) if part(d) == "paper"}
        if anywhere and part(mod) != "cli":
            bad.append(f"{mod} -> {sorted(anywhere)}")
        elif at_top:
            bad.append(f"{mod} -> {sorted(at_top)} at module level (import it inside the command)")
    assert not bad, "imports of umelib.paper from outside it:\n" + "\n".join(bad)


def test_presentation_libraries_only_in_the_paper():
    mods = modules()
    bad = [f"{mod} imports {sorted(libs)}" for mod, path in mods.items() if part(mod) != "paper"
           for libs in [imports_of(mod, path, set(mods), prefix=BOOK_ONLY)] if libs]
    assert not bad, "pandas / matplotlib / seaborn / IPython outside umelib.paper:\n" + "\n".join(bad)


def package_lines() -> dict[str, int]:
    """Lines per package (a folder's own modules, not its sub-packages); a top-level module counts as its own."""
    out: dict[str, int] = {}
    for p in PKG.rglob("*.py"):
        rel = p.relative_to(PKG)
        key = str(rel.parent) if rel.parent != Path(".") else rel.stem
        out[key] = out.get(key, 0) + len(p.read_text().splitlines())
    return out


def test_no_package_holds_more_than_a_fifth_of_the_library():
    lines = package_lines()
    total = sum(lines.values())
    big = {k: f"{100 * n / total:.1f}%" for k, n in lines.items() if n > 0.2 * total}
    assert not big, f"packages over 20% of umelib's {total} lines: {big}; split them by job"


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for d in sorted(g.get(n, ())):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state:
                c = visit(d)
                if c:
                    return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(g):
        if n not in state:
            c = visit(n)
            if c:
                return c
    return None


def test_no_import_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checks_can_fail():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    g = graph()
    assert "umelib.experiments.suite" in g["umelib.cli"] or any(d.startswith("umelib.experiments") for d in g["umelib.cli"])
    assert "umelib.datasets.core" in g["umelib.training.augment"]  # relative imports are resolved
    mods = modules()
    cli = mods["umelib.cli"]
    assert any(part(d) == "paper" for d in imports_of("umelib.cli", cli, set(mods)))  # the lazy reproduce import
    assert not any(part(d) == "paper" for d in imports_of("umelib.cli", cli, set(mods), top_level_only=True))
    assert imports_of("umelib.paper.report", mods["umelib.paper.report"], set(mods), prefix=BOOK_ONLY)


def test_modules_stay_small():
    sizes = {m: len(p.read_text().splitlines()) for m, p in modules().items()}
    big = {m: n for m, n in sizes.items() if n > 500}
    assert not big, f"modules over 500 lines (split them): {big}"


def test_every_package_says_what_lives_there():
    for init in PKG.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 40, f"{init} needs a docstring: what lives here and what it may import"


def test_readme_imports_work():
    """Every ``from umelib... import ...`` line the README shows imports."""
    lines = re.findall(r"^(from umelib[\w.]* import [\w, ]+)", ROOT_README.read_text(), re.M)
    assert len(lines) >= 2
    for line in lines:
        exec(line, {})
