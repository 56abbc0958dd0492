"""fgi_core.plots: one home for every figure, one colour table, one way to draw fixations."""
import ast
import doctest
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

import fgi_core
from fgi_core import plots
from fgi_core.gaze.coords import pixel_indices

PACKAGE = Path(fgi_core.__file__).parent
ROOT = PACKAGE.parent


def _pixel_of(offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the imshow pixels that hold ``(x, y)`` data points (pixel k spans [k - 0.5, k + 0.5))."""
    return np.floor(offsets[:, 1] + 0.5).astype(int), np.floor(offsets[:, 0] + 0.5).astype(int)


@pytest.mark.parametrize("height, width", [(1, 1), (7, 5), (24, 24), (40, 50)])
def test_a_fixation_is_drawn_at_the_centre_of_the_pixel_pixel_indices_gives(height, width):
    rng = np.random.default_rng(height * 100 + width)
    xy = np.concatenate([rng.random((60, 2)), [[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.999999, 0.5]],
                         # on the pixel edges: k / W falls on pixel k
                         np.stack([np.arange(width) / width, np.zeros(width)], 1)[:5]])
    points = np.concatenate([xy, rng.uniform(50, 500, (len(xy), 1))], 1)
    rows, cols = pixel_indices(points[:, 0], points[:, 1], height, width)
    fig, ax = plt.subplots()
    ax.imshow(np.zeros((height, width, 3), np.uint8))
    scatter = plots.draw_fixations(ax, points, (height, width))
    offsets = np.asarray(scatter.get_offsets())
    np.testing.assert_array_equal(offsets, np.stack([cols, rows], 1))  # the centre, exactly
    drawn_rows, drawn_cols = _pixel_of(offsets)
    np.testing.assert_array_equal(drawn_rows, rows)
    np.testing.assert_array_equal(drawn_cols, cols)
    assert ax.get_xlim() == (-0.5, width - 0.5) and ax.get_ylim() == (height - 0.5, -0.5)  # the image's extent
    np.testing.assert_array_equal(plots.fixation_offsets(points, height, width), offsets)
    plt.close(fig)


def test_every_figure_with_fixations_draws_them_the_same_way():
    image = np.zeros((12, 16, 3), np.uint8)
    points = np.array([[0.0, 0.0, 100.0], [0.51, 0.26, 300.0], [1.0, 1.0, 200.0]])
    expected = plots.fixation_offsets(points, 12, 16)
    assert expected.tolist() == [[0.0, 0.0], [8.0, 3.0], [15.0, 11.0]]
    fig, ax = plt.subplots()
    assert plots.plot_fixations(ax, image, points) is fig
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), expected)
    maps = {"heatmap": np.zeros((12, 16)), "refined": np.zeros((12, 16)), "m_hc": np.zeros((12, 16)), "m_bc": np.zeros((12, 16))}
    stage = plots.plot_gaze_stage(image, points, maps)
    np.testing.assert_array_equal(stage.axes[0].collections[0].get_offsets(), expected)
    sizes = ax.collections[0].get_sizes()
    assert sizes[1] > sizes[2] > sizes[0]  # area by duration
    plt.close("all")


def test_one_colour_table():
    assert plots.COLOURS["m_hc"] == (0.1, 0.9, 0.2) and plots.COLOURS["gt"] == (0.2, 0.5, 1.0)
    for path in [*sorted((PACKAGE / "plots").glob("*.py")), PACKAGE / "widgets.py"]:
        if path.name == "colours.py":
            continue
        tree = ast.parse(path.read_text())
        rgb = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Tuple) and len(n.elts) == 3
               and all(isinstance(e, ast.Constant) and isinstance(e.value, float) for e in n.elts)]
        assert not rgb, (path.name, rgb)  # no colour written outside the table (docstring examples aside)
        cmaps = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in ("jet", "autumn")]
        assert not cmaps, (path.name, cmaps)  # the colour maps are the table's too
        tables = [t.id for n in ast.walk(tree) if isinstance(n, ast.Assign) and isinstance(n.value, ast.Dict)
                  for t in n.targets if isinstance(t, ast.Name) and t.id.endswith("COLOURS")]
        scatters = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                    and n.func.attr == "scatter"]
        assert not tables and not scatters, (path.name, tables, scatters)  # one routine draws fixations


def _functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def test_figures_are_defined_once_in_plots_and_named_plot():
    homes: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in _functions(path):
            homes.setdefault(node.name, []).append(str(path.relative_to(PACKAGE)))
    for name, files in homes.items():
        if name.startswith(("plot_", "show_")):
            assert len(files) == 1 and files[0].startswith("plots/"), (name, files)
    assert homes["draw_fixations"] == ["plots/colours.py"] and homes["compose"] == ["plots/layers.py"]


def test_no_function_in_plots_is_longer_than_sixty_lines():
    for path in sorted((PACKAGE / "plots").glob("*.py")):
        lines = path.read_text().splitlines()
        for node in _functions(path):
            body = node.body[1:] if ast.get_docstring(node) else node.body
            code = [l for l in lines[body[0].lineno - 1:node.end_lineno] if l.strip() and not l.strip().startswith("#")]
            assert len(code) <= 60, (path.name, node.name, len(code))


def test_plot_curves_returns_the_figure_and_saves_when_given_a_path(tmp_path):
    rows = [{"iteration": i, "total": 1.0 / i, "rampup": min(1.0, i / 20), "val_dice": 0.5 if i % 20 == 0 else None}
            for i in range(10, 50, 10)]
    fig = plots.plot_curves(rows, title="toy")
    assert isinstance(fig, matplotlib.figure.Figure) and fig.axes[0].get_ylabel() == "loss"
    plt.close(fig)
    assert isinstance(plots.plot_curves(rows, tmp_path / "c.png"), matplotlib.figure.Figure)
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_plot_panels_kinds():
    image = np.zeros((6, 6, 3), np.uint8)
    labels = np.full((6, 6), -1)
    labels[:2] = 1
    labels[4:] = 0
    fig = plots.plot_panels([[(image, np.ones((6, 6)) * 0.5, "heat", "a"), (None, np.ones((6, 6)), "heat", "b")],
                             [(image, labels > 0, "mask", "c"), (image, labels, "labels", "d")]], colorbar="p")
    assert [ax.get_title() for ax in fig.axes[:4]] == ["a", "b", "c", "d"] and len(fig.axes) == 5
    rgba = fig.axes[3].images[1].get_array()
    assert tuple(rgba[0, 0, :3]) == plots.COLOURS["foreground"] and rgba[3, 3, 3] == 0  # -1 stays uncoloured
    plt.close(fig)


def test_plots_examples_run_and_importing_plots_loads_no_matplotlib():
    from fgi_core.plots import colours, layers, results

    for module in (colours, layers, results):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted >= 1 and result.failed == 0, module.__name__
    code = "import sys, fgi_core.plots; print(sorted(m for m in ('matplotlib', 'matplotlib.pyplot', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"  # fgi_core.train imports plots: no matplotlib or pandas at import time


def test_expectations_table_writes_counts_as_counts_and_scores_with_decimals():
    from fgi_core.plots.results import expectations

    table = expectations([("tokens", 65.0, 65, "explain.json"), ("Dice", 1.0, 0.6489, None), ("ms", 50.838, None, "x"),
                          ("rounding error", 3e-9, 0, None), ("pixels", 12345.6, 2000, None)])
    assert table.loc["tokens"].tolist() == ["65", "65", "explain.json"]
    assert table.loc["Dice"].tolist() == ["1.000", "0.649", "-"]
    assert table.loc["ms"].tolist() == ["50.838", "-", "x"]
    assert table.loc["rounding error"].tolist() == ["3.0e-09", "0.000", "-"]
    assert table.loc["pixels", "this run"] == "12346"


def test_real_tables_read_the_shipped_results_file():
    from fgi_core.plots.results import real_paired, real_table

    entry = {"label": "UNet on M_bc", "seeds": [0, 1], "dice": {"mean": 0.7}, "dice_per_seed": [0.69, 0.71], "iou": {"mean": 0.6},
             "hd95": {"mean": 90.0}, "asd": {"mean": 30.0}, "area_ratio_median": 1.05}
    real = {"methods": {"m_bc": entry, "fgi_authors": {**entry, "label": "FGI"}, "fgi_student": {**entry, "label": "FGI"}},
            "paired_dice": {"fgi_authors - m_bc": {"mean": -0.02, "low": -0.05, "high": 0.01, "n": 100, "wins": 0.4, "seeds": [0, 1]},
                            "full - m_bc": {"mean": 0.05, "low": 0.02, "high": 0.08, "n": 100, "wins": 0.7, "seeds": [0]}}}
    table = real_table(real)
    assert list(table.index) == ["UNet on M_bc", "FGI"]  # fgi_student repeats the profile's set: shown once
    assert table.loc["UNet on M_bc", "Dice per seed"] == "0.690, 0.710" and table.loc["FGI", "seeds"] == 2
    paired = real_paired(real)
    assert paired.loc["FGI - UNet on M_bc", "verdict"] == "cannot tell"  # the interval holds 0
    assert paired.loc["full - UNet on M_bc", "verdict"] == "full better" and paired.loc["full - UNet on M_bc", "seeds"] == 1
    assert real_table(None).empty and real_paired({}).empty
