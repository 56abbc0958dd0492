"""The notebooks as a tutorial: figures in every executed notebook, its scaffolding, readable output.

The executed notebooks come from the shared quick run (``quick_run`` in conftest.py); the
committed ones are read as files (no kernel).
"""
from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import nbformat
import pytest

from fgi_core.runner import KERNEL_ENVIRONMENT, export_html, find_notebooks, html_path, kernel_environment

NOTEBOOKS = find_notebooks()

#: Figures (``image/png`` outputs) each executed quick-profile notebook must show at least.
MIN_FIGURES = {"01": 5, "02": 4, "03": 3, "04": 4, "05": 3, "06": 6}

#: Words that point outside the repository (spec files, issue trackers, the shared workspace).
FORBIDDEN = [r"METHOD\.md", r"DESIGN\.md", r"\bthe issue\b", r"\bissue #?\d+", r"(?<![\w&])#\d{2,}\b", r"\.\./shared"]


def _png_count(path: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def _text(nb) -> str:
    return "\n".join(c.source for c in nb.cells)


# ----------------------------------------------------------------------------------------------
# the executed quick run
# ----------------------------------------------------------------------------------------------
def test_every_executed_notebook_shows_its_figures(quick_run):
    counts = {p.name[:2]: _png_count(quick_run / "notebooks" / p.name) for p in NOTEBOOKS}
    assert set(MIN_FIGURES) <= set(counts), counts
    short = {k: (counts[k], need) for k, need in MIN_FIGURES.items() if counts[k] < need}
    assert not short, f"figures shown (got, at least): {short}; all counts: {counts}"


def test_teaching_figures_are_saved_in_the_run_folder(quick_run):
    for figure in ("gaze/figures/fixations.png", "gaze/figures/one_image.png", "teacher/figures/pce_labels.png",
                   "student/figures/darm.png", "student/figures/cwc_afc.png", "teacher/predictions.png",
                   "student/predictions.png", "eval/boxplots.png", "interpret/inspector.png"):
        assert (quick_run / figure).stat().st_size > 5_000, figure


def test_no_widget_progress_bars_in_executed_notebooks(quick_run):
    for p in NOTEBOOKS:
        nb = nbformat.read(quick_run / "notebooks" / p.name, as_version=4)
        for cell in nb.cells:
            for o in cell.get("outputs", []):
                data = o.get("data", {})
                if "application/vnd.jupyter.widget-view+json" in data:
                    # the inspector of notebook 06 is the one widget allowed (with its static PNG after it)
                    assert "widgets.inspect" in cell.source, (p.name, cell.source[:80])


def test_each_notebook_has_an_html_rendering_linked_from_the_report(quick_run):
    report = (quick_run / "report.md").read_text()
    for p in NOTEBOOKS:
        html = html_path(quick_run / "notebooks" / p.name)
        assert html.is_file() and html.stat().st_size > 10_000, html
        assert f"(notebooks/{html.name})" in report
        assert "data:image/png;base64" in html.read_text()  # figures embedded: the file reads alone
    assert "Smoke test, not results" in report and "benchmarks/results/kvasir_cpu.json" in report


_MD_LINK = re.compile(r"\]\(([^)\s]+)\)")
_HREF = re.compile(r'href="([^"#][^"]*)"')


def _local(target: str) -> str | None:
    """The file part of a relative link, or None for a web address / an in-page anchor."""
    if re.match(r"[a-z]+:", target) or target.startswith("#"):
        return None
    return target.split("#", 1)[0]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_every_link_of_a_committed_notebook_opens_from_the_checkout(path):
    """JupyterLab serves the repository (make lab), so ../docs/ and the next notebook resolve."""
    nb = nbformat.read(path, as_version=4)
    links = [t for c in nb.cells if c.cell_type == "markdown" for t in map(_local, _MD_LINK.findall(c.source)) if t]
    assert links, path.name
    missing = [t for t in links if not (path.parent / t).exists()]
    assert not missing, f"{path.name}: links that lead nowhere: {missing}"


def test_every_link_of_the_html_renderings_opens_from_the_run_folder(quick_run):
    """In the HTML, "Next" opens the next rendering and docs links reach the copy of docs/ in the run."""
    for p in NOTEBOOKS:
        page = html_path(quick_run / "notebooks" / p.name)
        links = [t for t in map(_local, _HREF.findall(page.read_text())) if t]
        assert not [t for t in links if t.endswith(".ipynb")], p.name  # the renderings link to each other
        missing = [t for t in links if not (page.parent / t).exists()]
        assert not missing, f"{page.name}: links that lead nowhere: {missing}"
    assert (quick_run / "docs" / "method.md").is_file()


def test_the_quick_comparison_means_something(quick_run):
    """Full supervision at or above every gaze-trained network, and no collapsed baseline."""
    methods = json.loads((quick_run / "eval" / "summary.json").read_text())["methods"]
    dice = {name: m["dice"]["mean"] for name, m in methods.items()}
    full = dice.pop("UNet, ground truth (upper bound)")
    assert all(full >= v for v in dice.values()), (full, dice)
    assert min(dice.values()) > 0.3, dice


def test_the_evaluation_shows_the_shipped_real_results_by_default(quick_run):
    nb = nbformat.read(quick_run / "notebooks" / "05_evaluation.ipynb", as_version=4)
    shown = "\n".join(str(o.get("data", {}).get("text/plain", "")) + o.get("text", "")
                      for c in nb.cells for o in c.get("outputs", []))
    assert "real Kvasir-SEG (cpu" in shown and "paper (Kvasir-SEG)" in shown
    assert "Run to the schedule's end (15,000 iterations" in shown  # the paper's length, from the shipped long rows


# ----------------------------------------------------------------------------------------------
# the committed notebooks (no kernel)
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_committed_notebook_is_clean_and_scaffolded(path):
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code"), \
        f"{path.name} is committed with outputs: clear them"
    text = _text(nb)
    for pattern in FORBIDDEN:
        assert not re.search(pattern, text), f"{path.name} refers outside the repository: {pattern}"
    for heading in ("Before you start", "Try this", "What you learned", "You should see"):
        assert heading in text, f"{path.name} lacks '{heading}'"
    assert re.search(r"paper's (Sec\.|experiments|interpretability)", text), f"{path.name} cites no part of the paper"
    later = [p.name for p in NOTEBOOKS if p.name > path.name]
    if later:
        assert f"]({later[0]})" in text, f"{path.name} does not link to {later[0]}"
    for link in re.findall(r"\]\((\.\./[^)#]+)", text):  # links to the repository's docs resolve
        assert (path.parent / link).resolve().is_file(), f"{path.name}: broken link {link}"
    parameters = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(parameters) == 1
    for line in parameters[0].source.splitlines()[1:]:
        comment = line.partition("#")[2]
        assert "=" not in comment, f"{path.name}: papermill cannot parse a parameter whose comment has '=': {line}"


def test_distillation_notebook_takes_the_fgi_knobs():
    nb = nbformat.read(NOTEBOOKS[3], as_version=4)
    parameters = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", [])).source
    for knob in ("use_darm", "use_afc", "use_cwc", "teacher_mode", "darm_source", "darm_target", "cwc_both_ways"):
        assert re.search(rf"^{knob} = ", parameters, re.M), knob
    assert "fgi_options(prof, **overrides)" in _text(nb)


#: The teaching implementations each notebook checks against the library.
TEACHING = {"01": ("teach_heatmap", "teach_heatmap_separable", "teach_meanfield_step", "teach_pseudo_masks"),
            "02": (), "03": ("teach_pce", "teach_fusion"), "04": ("teach_darm", "teach_afc", "teach_cwc", "teach_rampup"),
            "05": ("teach_scores",), "06": ("teach_cc", "teach_nss", "teach_auc")}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_every_mechanism_has_formula_teaching_code_and_a_check(path):
    """A display formula ($$) in the notebook's markdown, and teaching code checked against the library."""
    nb = nbformat.read(path, as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "$$" in markdown, path.name
    teaching = re.findall(r"^def (teach_\w+)", code, re.M)
    assert set(TEACHING[path.name[:2]]) <= set(teaching), (path.name, teaching)
    for name in teaching:
        assert code.count(name) >= 2, f"{path.name}: {name} is never checked"


# ----------------------------------------------------------------------------------------------
# the runner's kernel environment and HTML export, progress bars, the curves figure
# ----------------------------------------------------------------------------------------------
def test_kernel_environment_is_set_for_the_kernel_and_restored(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("FGI_PROGRESS", raising=False)
    with kernel_environment():
        assert os.environ["MPLBACKEND"] == KERNEL_ENVIRONMENT["MPLBACKEND"] == "module://matplotlib_inline.backend_inline"
        assert os.environ["FGI_PROGRESS"] == "text"
    assert os.environ["MPLBACKEND"] == "Agg" and "FGI_PROGRESS" not in os.environ


def test_export_html_writes_a_self_contained_page(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title\n\n$$a^2 + b^2 = c^2$$"), nbformat.v4.new_code_cell("1 + 1")]
    nb.cells[1].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)]
    path = tmp_path / "01_toy.ipynb"
    nbformat.write(nb, path)
    out = export_html(path, log=lambda *_: None)
    html = out.read_text()
    assert out == tmp_path / "01_toy.html"
    # the formula is typeset in the page itself (MathML: a^2 as <msup>), no MathJax, no CDN script
    assert re.search(r'<math[^>]*display="block"', html) and "<msup><mi>a</mi><mn>2</mn></msup>" in html
    assert "$$" not in html and not re.findall(r"<script[^>]*\bsrc=[\"']?https?://", html, re.I)
    assert export_html(tmp_path / "missing.ipynb", log=lambda *_: None) is None  # never fails a run


def test_formulas_become_mathml_outside_code_only():
    from fgi_core.runner import markdown_with_mathml

    out = markdown_with_mathml("Dice $2|A \\cap B|$, a fence\n```\n$not math$\n```\nand `$HOME` and \\$5")
    assert out.count("<math ") == 1 and "<mo>&#x02229;</mo>" in out  # \cap
    assert "$not math$" in out and "`$HOME`" in out and "\\$5" in out
    assert "\n" not in out.split("<math", 1)[1].split("</math>", 1)[0]  # one line: Markdown keeps it inline


def test_widget_views_become_a_note_without_the_cdn_manager():
    from fgi_core.runner import WIDGET_NOTE, offline_notebook

    nb = nbformat.v4.new_notebook(metadata={"widgets": {"application/vnd.jupyter.widget-state+json": {"state": {}}}})
    nb.cells = [nbformat.v4.new_code_cell("inspector")]
    nb.cells[0].outputs = [nbformat.v4.new_output("display_data", {"application/vnd.jupyter.widget-view+json": {"model_id": "x"},
                                                                  "text/plain": "VBox()"})]
    out = offline_notebook(nb)
    assert "widgets" not in out.metadata and out.cells[0].outputs[0]["data"] == {"text/html": WIDGET_NOTE}
    assert "widgets" in nb.metadata  # the executed notebook itself keeps its widget state for JupyterLab


def test_progress_bars_are_text_in_a_batch_run(monkeypatch, capsys):
    from tqdm.std import tqdm as text_bar

    from fgi_core import progress

    monkeypatch.setenv("FGI_PROGRESS", "text")
    assert progress.batch_run()
    bar = progress.tqdm(range(3), desc="toy")
    assert isinstance(bar, text_bar)  # not a widget
    for k, _ in enumerate(bar):
        assert capsys.readouterr().out == ""  # nothing while it runs: a saved notebook would keep every update
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("toy: 100%|###") and "3/3" in lines[0]  # one ASCII line, at the end
    monkeypatch.setenv("FGI_PROGRESS", "none")
    assert progress.tqdm(range(3)).disable
    monkeypatch.delenv("FGI_PROGRESS")
    assert not progress.batch_run()


def test_training_curves_put_the_rampup_on_its_own_axis(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from fgi_core import plots

    rows = [{"iteration": i, "total": 1.0 / i, "student": 0.5 / i, "cwc": 0.1, "afc": 0.9, "rampup": min(1.0, i / 20),
             "lr": 0.01, "seconds": 1.0, "val_dice": 0.5 if i % 20 == 0 else None} for i in range(10, 70, 10)]
    figures = []
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig))
    plots.plot_curves(rows, tmp_path / "curves.png", "toy")
    assert (tmp_path / "curves.png").stat().st_size > 5_000
    fig = figures[-1]
    loss_ax = fig.axes[0]
    twins = [ax for ax in fig.axes[2:] if ax.get_shared_x_axes().joined(ax, loss_ax)]
    assert twins and "ramp-up" in twins[0].get_ylabel()
    assert all("rampup" not in line.get_label() for line in loss_ax.get_lines())
    legend = loss_ax.get_legend()
    assert legend is not None and legend.get_bbox_to_anchor().bounds[1] < loss_ax.get_position().bounds[1] * fig.bbox.height
    plt.close("all")
