"""The package's shape: each public name has one home, and no module imports itself round a loop.

Both checks read the code, not its text: exports by importing every module, imports from its
syntax tree (a reformatted copy of the source reads the same).
"""
from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import fgi_core

PACKAGE = Path(fgi_core.__file__).parent
ROOT = PACKAGE.parent

#: Names still re-exported from a second home (none: keep it so).
NOT_YET_MOVED: set[tuple[str, str]] = set()


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, whether it is a package's ``__init__``), for every fgi_core module."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


MODULES = _modules()


def _owns(module: str, home: str) -> bool:
    """Whether ``module`` may export what ``home`` defines: itself, or a package its own submodules."""
    return home == module or (MODULES[module][1] and home.startswith(module + "."))


def _top_level_names(module: str) -> set[str]:
    """Names a module defines at its top level (def, class, assignment), from its syntax tree."""
    names = set()
    for node in ast.parse(MODULES[module][0].read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_imports(module):
    importlib.import_module(module)


def test_each_public_name_is_exported_from_its_home_only():
    """``__all__`` lists what the module (or, for a package, one of its modules) defines; never a
    name of another module or package. Functions and classes by ``__module__``, constants by
    the assignments in the syntax tree."""
    foreign = []
    for module in sorted(MODULES):
        exported = getattr(importlib.import_module(module), "__all__", None)
        if exported is None:
            continue
        mod = sys.modules[module]
        for name in exported:
            assert hasattr(mod, name), f"{module}.__all__ names {name!r}, which it does not have"
            obj = getattr(mod, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                homes = [obj.__module__] if obj.__module__.startswith("fgi_core") else [module]
            else:
                homes = [m for m in MODULES if _owns(module, m) and name in _top_level_names(m)]
            if not any(_owns(module, home) for home in homes) and (module, name) not in NOT_YET_MOVED:
                foreign.append(f"{module}: {name} (defined in {', '.join(homes) or 'another module'})")
    assert not foreign, "re-exported from outside their home:\n" + "\n".join(foreign)


def test_no_object_is_exported_under_two_names():
    """No alias: a function, class or table is exported under one name (a package re-exporting
    its own module's name keeps the name)."""
    names: dict[int, set[str]] = {}
    for module in sorted(MODULES):
        mod = importlib.import_module(module)
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name)
            if inspect.isfunction(obj) or inspect.isclass(obj) or isinstance(obj, (dict, list, set)):
                names.setdefault(id(obj), set()).add(name)
    aliases = sorted(sorted(n) for n in names.values() if len(n) > 1)
    assert not aliases, aliases


# ----------------------------------------------------------------------------------------------
# Imports: no cycle, imports inside functions included
# ----------------------------------------------------------------------------------------------
def _imported(module: str, node: ast.AST) -> list[str]:
    """The fgi_core modules one ``import`` / ``from ... import`` statement of ``module`` imports."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    path, is_package = MODULES[module]
    if node.level:  # relative: from the module's package (its own, for an __init__), up level - 1
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[:len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    # ``from pkg import name``: the submodule ``pkg.name`` where there is one, else pkg's __init__
    return [f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source for a in node.names]


def import_graph() -> dict[str, set[str]]:
    """Module -> the fgi_core modules it imports anywhere in its code (top level or in a function)."""
    graph = {}
    for module, (path, _) in MODULES.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets |= {t for t in _imported(module, node) if t in MODULES and t != module}
        graph[module] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle ``[a, b, ..., a]`` of ``graph``, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_import_graph_reads_every_kind_of_import():
    graph = import_graph()
    assert "fgi_core.data.base" in graph["fgi_core.data"]  # from .base import ... in a package's __init__
    assert "fgi_core.augment" in graph["fgi_core.train.methods"]  # from .. import augment as A
    assert "fgi_core.losses" in graph["fgi_core.options"]  # an import inside a method
    assert "fgi_core.data.base" in graph["fgi_core.runs"]  # from .data.base import ... in a function


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_registry_is_the_bottom_layer():
    assert import_graph()["fgi_core.registry"] == set()  # look_up_option and Registry import nothing of fgi_core


# ----------------------------------------------------------------------------------------------
# The options: one home, no torch
# ----------------------------------------------------------------------------------------------
def test_options_and_profiles_import_no_torch():
    code = ("import sys; from fgi_core.config import fgi_options, get_profile; from fgi_core.options import option_choices; "
            "o = fgi_options(get_profile('cpu'), use_cwc=False); option_choices(); "
            "print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_the_options_choices_agree_with_the_registries():
    from fgi_core.losses import ACTIVATIONS, list_losses
    from fgi_core.options import STUDENT_LOSSES, TEACHER_LOSSES, FGIOptions

    assert TEACHER_LOSSES == tuple(list_losses("teacher")) and STUDENT_LOSSES == tuple(list_losses("student"))
    for loss in {*TEACHER_LOSSES, *STUDENT_LOSSES}:
        role = "teacher" if loss in TEACHER_LOSSES else "student"
        assert getattr(FGIOptions(**{f"{role}_loss": loss}), f"{role}_activation") in ACTIVATIONS


def test_named_option_sets_list_only_their_changes():
    from fgi_core.config import AUTHORS_CODE_OPTIONS, PAPER_TEXT_OPTIONS, PROFILES, fgi_options, get_profile
    from fgi_core.options import FGIOptions

    defaults = FGIOptions()
    for options in (PAPER_TEXT_OPTIONS, AUTHORS_CODE_OPTIONS):
        assert all(getattr(defaults, k) != v for k, v in options.items()), options
        with pytest.raises(TypeError):
            options["teacher_loss"] = "pce"  # read-only
    assert dict(PAPER_TEXT_OPTIONS) == {} and {**AUTHORS_CODE_OPTIONS}["teacher_loss"] == "bce"
    assert fgi_options(get_profile("quick")) == FGIOptions(rampup_length=50)  # the paper's text, its own short ramp
    assert fgi_options(get_profile("cpu")) == fgi_options(get_profile("paper")) == FGIOptions(**AUTHORS_CODE_OPTIONS)
    # the ramp-up's length is an option, written once
    assert "rampup_length" not in {f.name for f in dataclasses.fields(PROFILES["cpu"])}
    assert fgi_options(get_profile("cpu"), rampup_length=10).rampup_length == 10
