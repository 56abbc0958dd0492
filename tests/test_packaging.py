"""Packaging consistency: requirements.txt, environment.yml, pyproject.toml and CITATION.cff agree.

The pinned set lives in two places (pip users read requirements.txt, conda users environment.yml);
these tests make sure the two never drift apart, and that the package metadata still matches them.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

# PEP 508 requirement: a name, optional extras, optional specifier, optional marker.
_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([^;]*?)\s*(;.*)?$")


def normalise(name: str) -> str:
    """PEP 503 name normalisation (lowercase; runs of ``-``, ``_``, ``.`` become ``-``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirement(line: str) -> tuple[str, str]:
    """(normalised name, specifier with spaces removed) of one requirement line."""
    m = _REQ.match(line)
    if not m:
        raise ValueError(f"cannot parse requirement {line!r}")
    return normalise(m.group(1)), m.group(3).replace(" ", "")


def requirement_lines(text: str) -> list[str]:
    """Requirement lines of a requirements file: comments, blank lines and pip options dropped."""
    lines = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if line and not line.startswith("-"):
            lines.append(line)
    return lines


def pins(lines: list[str], where: str) -> dict[str, str]:
    """name -> specifier; a name listed twice is an error (it would hide a conflicting pin)."""
    out: dict[str, str] = {}
    for line in lines:
        name, spec = parse_requirement(line)
        assert name not in out, f"{where}: {name} is listed twice ({out[name]!r} and {spec!r})"
        out[name] = spec
    return out


def diff_message(a: dict[str, str], b: dict[str, str], name_a: str, name_b: str) -> str:
    only_a = sorted(set(a) - set(b))
    only_b = sorted(set(b) - set(a))
    differ = sorted(f"{k}: {a[k]!r} vs {b[k]!r}" for k in set(a) & set(b) if a[k] != b[k])
    return (
        f"{name_a} and {name_b} drifted apart:\n"
        f"  only in {name_a}: {only_a}\n  only in {name_b}: {only_b}\n  different pins: {differ}"
    )


@pytest.fixture(scope="module")
def requirements() -> dict[str, str]:
    return pins(requirement_lines((ROOT / "requirements.txt").read_text()), "requirements.txt")


@pytest.fixture(scope="module")
def environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


@pytest.fixture(scope="module")
def pip_section(environment) -> list[str]:
    sections = [d["pip"] for d in environment["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(sections) == 1, f"environment.yml needs exactly one `pip:` section, found {len(sections)}"
    return [str(x) for x in sections[0]]


@pytest.fixture(scope="module")
def pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def test_parsers_catch_drift():
    """The comparison itself can fail: a changed pin and a missing package are both reported."""
    a = pins(["torch==2.0", "Numpy==1.0"], "a")
    b = pins(["torch==2.1", "scipy==1.0"], "b")
    assert a != b
    msg = diff_message(a, b, "a", "b")
    assert "only in a: ['numpy']" in msg and "only in b: ['scipy']" in msg and "torch: '==2.0' vs '==2.1'" in msg
    assert parse_requirement("Opencv_Python.Headless == 5.0 ; python_version>'3'") == ("opencv-python-headless", "==5.0")
    assert requirement_lines("# c\n\nfoo==1  # note\n-e .\n--extra-index-url x\n") == ["foo==1"]


def test_requirements_are_all_pinned(requirements):
    loose = sorted(n for n, s in requirements.items() if not re.fullmatch(r"==[^=,<>!~*]+", s))
    assert not loose, f"requirements.txt entries not pinned with a single '==': {loose}"


def test_environment_pip_section_matches_requirements(requirements, pip_section):
    env = pins(requirement_lines("\n".join(pip_section)), "environment.yml pip section")
    assert env == requirements, diff_message(requirements, env, "requirements.txt", "environment.yml")


def test_environment_installs_the_package_last(pip_section):
    assert pip_section[-1].replace(" ", "") in {"-e.", "--editable."}, (
        f"the last pip entry of environment.yml must be `-e .`, got {pip_section[-1]!r}"
    )


def test_environment_channels_and_python(environment):
    assert environment["name"] == "fgi"
    assert environment["channels"] == ["conda-forge", "nodefaults"], environment["channels"]
    conda = [d for d in environment["dependencies"] if isinstance(d, str)]
    assert "pip" in conda, f"pip must be a conda dependency, got {conda}"
    assert any(re.fullmatch(r"python\s*=+\s*3\.11(\.\*)?", d) for d in conda), f"python=3.11 missing: {conda}"


def test_torch_pinned_exactly(requirements):
    assert "torch" in requirements, "torch missing from requirements.txt"
    assert requirements["torch"].startswith("==") and len(requirements["torch"]) > 2, requirements["torch"]


def test_console_script(pyproject):
    scripts = pyproject["project"].get("scripts", {})
    assert scripts.get("fgi") == "fgi_core.cli:main", f"[project.scripts] fgi should be fgi_core.cli:main, got {scripts}"


def test_pyproject_dependencies_are_in_requirements(pyproject, requirements):
    deps = {parse_requirement(d)[0] for d in pyproject["project"]["dependencies"]}
    missing = sorted(deps - set(requirements))
    assert not missing, f"pyproject dependencies missing from requirements.txt: {missing}"


def test_citation_names_the_paper():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    for key in ("title", "authors", "message"):
        assert cff.get(key), f"CITATION.cff lacks {key}"
    pref = cff["preferred-citation"]
    assert pref["type"] == "article" and pref["year"] == 2025, pref
    assert pref["journal"] == "IEEE Transactions on Medical Imaging"
    ids = [str(i.get("value", "")) for i in pref.get("identifiers", [])]
    assert any("2504.11368" in v for v in ids), f"arXiv id 2504.11368 not among identifiers {ids}"
    ref_ids = " ".join(str(i.get("value")) for r in cff["references"] for i in r.get("identifiers", []))
    assert "2407.07406" in ref_ids, "GazeMedSeg (arXiv 2407.07406) missing from references"


def test_make_lab_starts_as_root_on_the_repository_at_notebook_01():
    """`make lab` runs as root (containers, cloud notebooks) with --allow-root, headless options pass
    through LAB_ARGS, and JupyterLab serves the repository so ../docs links open."""
    import os
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("no make")
    # --no-print-directory: under `make test` this make is nested and would add "make[1]: ..." lines
    lines = subprocess.run(["make", "--no-print-directory", "-n", "lab", "LAB_ARGS=--no-browser --port 8899"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.strip().splitlines()
    out = next(line for line in lines if "jupyter lab" in line)
    assert out.startswith(".venv/bin/jupyter lab") and out.endswith("--no-browser --port 8899 notebooks/01_gaze_preprocessing.ipynb")
    assert ("--allow-root" in out) == (os.geteuid() == 0)
    assert "--notebook-dir" not in out and "root_dir" not in out  # the server's root is where make runs: the repository
