"""The README's promises: its Python snippets run as written, and no file cites a document that
is not in the repository.

1. Every fenced ```python block of README.md is executed, as a user would paste it, in a fresh
   interpreter whose working directory is an empty temporary folder (offline: HF_HUB_OFFLINE=1;
   one thread). Blocks that cannot run as written must not be tagged ``python``.
2. Docstrings, comments and documents cite this repository's own pages (docs/method.md,
   docs/design.md, ...) or the paper's sections. A reference to the project's planning files
   (the method and design specs kept outside the repository), to documents in the shared
   folder beside the checkout, or to a numbered issue leads a reader nowhere, so none may appear.
   ``../shared/realdata`` is a data location the code looks up (``fgi_core.config.shared_realdata``)
   and the real-data tests name when they skip: it is allowed.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def python_blocks(text: str) -> list[str]:
    """The bodies of the ```python fenced blocks of a Markdown text, in order."""
    return [m.group(1) for m in FENCE.finditer(text)]


def test_python_blocks_are_found():
    text = "a\n```python\nx = 1\n```\n```text\nnot code\n```\n```python\ny = 2\n```\n"
    assert python_blocks(text) == ["x = 1\n", "y = 2\n"]
    assert python_blocks(README.read_text(encoding="utf-8")), "README.md has no ```python block left"


README_BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(README_BLOCKS)), ids=lambda i: f"block{i}")
def test_readme_python_block_runs(index, tmp_path):
    """The block runs in a clean interpreter from an empty folder and exits with status 0."""
    script = tmp_path / f"readme_block_{index}.py"
    script.write_text(README_BLOCKS[index], encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
           "FGI_RUNS_ROOT": str(work / "runs")}
    done = subprocess.run([sys.executable, str(script)], cwd=work, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, (
        f"README.md ```python block {index} failed (exit {done.returncode}):\n"
        f"--- block ---\n{README_BLOCKS[index]}\n--- stderr (end) ---\n{done.stderr[-4000:]}"
    )


# ----------------------------------------------------------------------------------------------
# References that lead nowhere
# ----------------------------------------------------------------------------------------------
# Built from pieces so that this file does not match its own patterns.
_SPEC = "|".join(name + r"\.md" for name in ("METHOD", "DESIGN"))
DANGLING = {
    "a planning file outside the repository": re.compile(r"\b(?:" + _SPEC + r")\b"),
    "a document in the shared folder (its realdata/ is a data path, allowed)":
        re.compile(r"\.\./" + "shared" + r"(?!/realdata\b)"),
    "a numbered issue": re.compile(r"\bissues?\s+#?\d", re.I),
}
#: (path relative to the repository, exact line text) pairs that may stay; keep it short.
ALLOWED: set[tuple[str, str]] = set()

TEXT_FILES = ("README.md", "docs/*.md", "fgi_core/**/*.py", "benchmarks/*.py", "tests/*.py", "Makefile", ".ci/run")


def dangling_references(patterns: tuple[str, ...]) -> list[str]:
    """``path:line: what -- text`` for every match in the files of ``patterns`` (globs)."""
    hits = []
    for pattern in patterns:
        for path in sorted(ROOT.glob(pattern)):
            if not path.is_file() or ".ipynb_checkpoints" in path.parts:
                continue
            rel = path.relative_to(ROOT).as_posix()
            for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                for what, regex in DANGLING.items():
                    if regex.search(line) and (rel, line.strip()) not in ALLOWED:
                        hits.append(f"{rel}:{number}: {what} -- {line.strip()[:160]}")
    return hits


def test_patterns():
    spec = "METHOD" + ".md"
    assert DANGLING["a planning file outside the repository"].search(f"as {spec} section 4 says")
    assert not DANGLING["a planning file outside the repository"].search("as docs/method.md §4 says")
    shared = DANGLING["a document in the shared folder (its realdata/ is a data path, allowed)"]
    up = "../" + "shared"
    assert shared.search(f"see {up}/docs/x.md") and not shared.search(f"reads {up}/realdata/kvasir-seg")
    issue = DANGLING["a numbered issue"]
    word = "iss" + "ue"
    assert issue.search(f"({word} 4)") and issue.search(f"{word}s 3-5") and not issue.search(f"no {word} here")


def test_no_dangling_references_in_code_and_docs():
    hits = dangling_references(TEXT_FILES)
    assert not hits, "cite docs/method.md or docs/design.md (or the paper) instead:\n" + "\n".join(hits)


def test_no_dangling_references_in_notebooks():
    hits = dangling_references(("notebooks/*.ipynb",))
    assert not hits, "cite docs/method.md or docs/design.md (or the paper) instead:\n" + "\n".join(hits)
