"""The inspector: its pure renderers (fgi_core.plots, no display) and the ipywidgets layer on top (fgi_core.widgets)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from fgi_core import interpret as I
from fgi_core import plots as P
from fgi_core import widgets as W


def record(size=24, with_attention=True):
    yy, xx = np.mgrid[0:size, 0:size]
    heat = np.exp(-((xx - 6) ** 2 + (yy - 6) ** 2) / 12.0).astype(np.float32)
    gt = heat > 0.5
    image = np.full((size, size, 3), 60, np.uint8)
    image[gt] = 220
    prob_t = heat.copy()
    prob_s = np.clip(heat * 1.3, 0, 1).astype(np.float32)
    a = np.full((6, size // 2, size // 2), 0.1, np.float32)
    a[1, :3, :3] = 0.5  # token 1 ("upper") looks at the upper-left corner
    a[0] = 1.0 - a[1:].sum(axis=0)
    rec = I.ImageRecord(
        id="img-7", image=image, points=np.array([[0.25, 0.25, 400.0], [0.75, 0.5, 100.0], [0.3, 0.2, 200.0]]),
        heatmap=heat, refined=np.clip(heat * 1.2, 0, 1), m_hc=(heat > 0.6).astype(np.uint8), m_bc=(heat > 0.3).astype(np.uint8),
        gt=gt, prob={"teacher": prob_t, "student": prob_s},
        fields={"Location": "upper-left", "Boundary": "well-defined", "Characteristics": "sessile polyp",
                "Area Percentage": "5-15%", "Confidence": "high", "Remarks": "A small polyp."},
        token_spans={"Location": (1, 3), "Boundary": (3, 5)}, tokens=["[CLS]", "upper", "left", "well", "defined", "[SEP]"],
    )
    if with_attention:
        rec.attention = [a, a[:, ::2, ::2], a[:, ::4, ::4], a[:, ::6, ::6]]
    return rec


# ----------------------------------------------------------------------------------------------
# Pixels
# ----------------------------------------------------------------------------------------------
def test_compose_blends_known_values():
    img = np.full((3, 3, 3), 100, np.uint8)
    fill = np.zeros((3, 3), bool)
    fill[0, 0] = True
    out = P.compose(img, fills=[(fill, (1.0, 0.0, 0.0), 0.5)])
    assert out[0, 0].tolist() == [178, 50, 50]  # 0.5 * 100 + 0.5 * 255 = 177.5 -> 178; 0.5 * 100 = 50
    assert out[1, 1].tolist() == [100, 100, 100]
    # heat: opacity alpha * value; value 0 leaves the image, value 1 blends jet(1) = (0.5, 0, 0)
    heat = np.zeros((3, 3))
    heat[2, 2] = 1.0
    out = P.compose(img, heat=[(heat, 0.5)])
    assert out[2, 2].tolist() == [114, 50, 50]  # 0.5 * 100 + 0.5 * 127.5 = 113.75 -> 114
    assert out[0, 0].tolist() == [100, 100, 100]
    # outlines paint the boundary pixels only; no image = grey 128
    sq = np.zeros((5, 5), bool)
    sq[1:4, 1:4] = True
    out = P.compose(None, outlines=[(sq, (0.0, 0.0, 1.0))], shape=(5, 5))
    assert out[1, 1].tolist() == [0, 0, 255] and out[2, 2].tolist() == [128, 128, 128] and out[0, 0].tolist() == [128, 128, 128]
    grey = P.compose(np.full((2, 2), 7, np.uint8))
    assert grey.shape == (2, 2, 3) and (grey == 7).all()
    with pytest.raises(ValueError, match=r"fill mask has shape \(2, 2\); the image is \(3, 3\)"):
        P.compose(img, fills=[(np.zeros((2, 2), bool), (1, 0, 0), 0.5)])
    with pytest.raises(ValueError, match="an image or a shape"):
        P.compose(None)


def test_outline_and_fixation_offsets():
    m = np.zeros((5, 5), bool)
    m[1:4, 1:4] = True
    expected = m.copy()
    expected[2, 2] = False
    np.testing.assert_array_equal(P.outline(m), expected)
    full = np.ones((3, 3), bool)
    assert P.outline(full).sum() == 8  # the image border counts as outside
    # drawn at the centre of the pixel gaze.coords.pixel_indices gives: (col, row)
    np.testing.assert_allclose(P.fixation_offsets(np.array([[0.0, 0.0, 1], [0.5, 1.0, 1]]), 10, 20), [[0.0, 0.0], [10.0, 9.0]])


# ----------------------------------------------------------------------------------------------
# One view
# ----------------------------------------------------------------------------------------------
def test_view_checks_its_fields():
    with pytest.raises(ValueError, match="Did you mean 'heatmap'"):
        P.View(layers=("heatmp",))
    with pytest.raises(ValueError, match="threshold"):
        P.View(threshold=1.5)
    with pytest.raises(ValueError, match="stage"):
        P.View(stage=5)


def test_plot_view_layers_are_the_composed_image():
    rec = record()
    view = P.View(layers=("image", "m_hc", "prediction", "gt"), source="teacher", threshold=0.5, focus="Location")
    fig = P.plot_view(rec, view, rec.attention)
    assert len(fig.axes) == 3
    region = rec.prob["teacher"] >= 0.5
    expected = P.compose(rec.image, [], [(rec.m_hc > 0, P.COLOURS["m_hc"], 0.35), (region, P.COLOURS["prediction"], 0.25)],
                         [(region, P.COLOURS["prediction"]), (rec.gt, P.COLOURS["gt"])])
    np.testing.assert_array_equal(np.asarray(fig.axes[0].images[0].get_array()), expected)
    assert len(fig.axes[0].collections) == 0  # fixations off: no scatter
    assert "teacher prediction at p >= 0.50" in fig._suptitle.get_text()
    plt.close(fig)


def test_plot_view_fixations_order_and_duration():
    rec = record()
    fig = P.plot_view(rec, P.View(layers=("image", "fixations")))
    [scatter] = fig.axes[0].collections
    np.testing.assert_allclose(scatter.get_offsets(), P.fixation_offsets(rec.points, 24, 24))
    sizes = scatter.get_sizes()
    assert sizes[0] > sizes[2] > sizes[1]  # 400 ms > 200 ms > 100 ms
    np.testing.assert_array_equal(scatter.get_array(), [0, 1, 2])  # colour = order
    assert [t.get_text() for t in fig.axes[0].texts] == ["1", "2", "3"]
    plt.close(fig)


def test_toggling_a_layer_or_the_threshold_changes_the_pixels():
    rec = record()
    base = P.View(layers=("image", "prediction"), source="student", threshold=0.5)
    a = np.asarray(P.plot_view(rec, base).axes[0].images[0].get_array())
    b = np.asarray(P.plot_view(rec, P.View(layers=("image", "prediction", "heatmap"), source="student")).axes[0].images[0].get_array())
    c = np.asarray(P.plot_view(rec, P.View(layers=("image", "prediction"), source="student", threshold=0.9)).axes[0].images[0].get_array())
    d = np.asarray(P.plot_view(rec, P.View(layers=("prediction",), source="student")).axes[0].images[0].get_array())
    assert not np.array_equal(a, b) and not np.array_equal(a, c)
    assert (d[0, -1] == 128).all()  # image off: grey background far from the lesion
    plt.close("all")


def test_attention_panel_shows_the_chosen_field_or_token():
    rec = record()
    m, label = P.attention_for(rec, rec.attention, 1, "Location")
    # Location = tokens 1..2: 0.5 + 0.1 in the upper-left 3 x 3 cells of the 12 x 12 grid, 0.2 elsewhere
    assert m.shape == (24, 24) and m[0, 0] == pytest.approx(0.6) and m[-1, -1] == pytest.approx(0.2)
    assert "field 'Location' (2 tokens)" in label and "stage 1 (12x12)" in label
    m1, label1 = P.attention_for(rec, rec.attention, 1, 1)
    assert m1[0, 0] == pytest.approx(0.5) and "token 1 'upper'" in label1
    fig = P.plot_view(rec, P.View(focus=1, stage=1), rec.attention)
    assert "token 1 'upper'" in fig.axes[1].get_title()
    np.testing.assert_array_equal(np.asarray(fig.axes[1].images[0].get_array()), P.compose(rec.image, [(P.stretch(m1), 0.6)]))
    np.testing.assert_allclose(P.stretch(np.array([[2.0, 4.0], [3.0, 3.0]])), [[0, 1], [0.5, 0.5]])
    assert (P.stretch(np.full((2, 2), 0.3)) == 0).all()
    fig2 = P.plot_view(rec, P.View(), attention=None)
    assert "no attention" in fig2.axes[1].texts[0].get_text()
    with pytest.raises(KeyError, match="Remarks"):
        P.attention_for(rec, rec.attention, 1, "Remarks")
    plt.close("all")


def test_description_panel_lists_fields_and_measurements():
    rec = record()
    view = P.View(source="teacher", focus="Boundary")
    scores = P.view_scores(rec, view)
    assert scores["location"] == "upper-left" and scores["location_match"] is True
    fig = P.plot_view(rec, view, rec.attention, scores)
    texts = {t.get_text(): t for t in fig.axes[2].texts}
    order = [t.get_text() for t in fig.axes[2].texts]
    k = order.index("Location: upper-left")
    assert order[k + 1].strip() == "predicted: upper-left (match)"
    bold = [t for t, a in texts.items() if a.get_weight() == "bold" and t.startswith("Boundary")]
    assert bold, "the focused field is highlighted"
    assert any(t.startswith("CC(heatmap, p) 1.00") for t in texts)  # teacher p == heatmap
    fig = P.plot_view(rec, P.View(description=False))
    assert len(fig.axes[2].texts) == 0
    plt.close("all")


def test_focus_options_follow_the_token_spans():
    rec = record()
    opts = P.focus_options(rec)
    assert opts[0] == ("field: Location (tokens 1-2)", "Location")
    assert ("token 2: left (Location)", 2) in opts and ("token 0: [CLS]", 0) in opts
    assert len(opts) == 2 + 6


# ----------------------------------------------------------------------------------------------
# Notebook figures
# ----------------------------------------------------------------------------------------------
def test_summary_and_link_figures():
    rec = record()
    insp = I.Inspection([rec])
    frame = I.measure(insp)
    fig = P.plot_links([rec], frame, "student_cc", "student", title="strongest")
    assert len(fig.axes) == 5 and "cc: " in fig.axes[3].texts[0].get_text()  # 4 panels and the heat colour bar
    assert fig.axes[4].get_label() == "<colorbar>" and "p(lesion)" in fig.axes[4].get_xlabel()  # below the heat panels
    with pytest.raises(KeyError, match="nope"):
        P.plot_links([rec], frame, "nope")
    s = pd.DataFrame({"mean": [0.5, 0.2], "low": [0.4, 0.1], "high": [0.6, 0.3]}, index=["cc", "nss"])
    fig = P.plot_summary({"teacher": s, "student": s}, ["cc", "nss"], reference={"nss": 0.0})
    [ax] = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cc", "nss"]
    assert len(ax.containers) == 2  # one errorbar set per table
    fig = P.plot_teacher_student([rec], scores={"img-7": 0.5})
    assert "Dice(teacher, student) 0.50" in fig.axes[2].get_title()
    table = I.attention_table(insp)
    fig = P.plot_attention_summary(I.attention_summary(table))
    assert len(fig.axes) == 4  # two matrices, two colour bars
    fig = P.plot_attention_grid(rec, rec.attention)
    assert len(fig.axes) == 2 * 4 + 1 and fig.axes[-1].get_label() == "<colorbar>"  # two fields x four stages, one colour bar
    png = P.figure_png(fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    plt.close("all")


# ----------------------------------------------------------------------------------------------
# The widget layer (no display needed)
# ----------------------------------------------------------------------------------------------
def test_inspector_updates_one_figure_in_place():
    other = record()
    other.id = "img-8"
    other.image = other.image.copy()
    other.image[:, :, 0] = 10
    other.token_spans = {"Location": (1, 2)}
    insp = I.Inspection([record(), other])
    ins = W.Inspector(insp, source="teacher")
    first, figure = ins.figure.value, ins.figure
    assert first[:8] == b"\x89PNG\r\n\x1a\n" and ins.renders == 1
    assert ins.view.source == "teacher" and set(ins.view.layers) == set(P.View().layers)
    ins.controls["threshold"].value = 0.8
    assert ins.renders == 2 and ins.figure is figure and ins.figure.value != first and ins.view.threshold == 0.8
    ins.controls["image"].value = 1  # the image slider: new image, id label and token menu follow
    assert ins.controls["id"].value == "img-8" and ins.renders == 3
    assert ("field: Location (tokens 1-1)", "Location") in ins.controls["focus"].options
    ins.controls["layers"]["heatmap"].value = False
    assert "heatmap" not in ins.view.layers and ins.renders == 4
    ins.controls["focus"].value = 1
    ins.controls["stage"].value = 3
    assert ins.view.focus == 1 and ins.view.stage == 3 and ins.renders == 6
    with pytest.raises(IndexError):
        W.Inspector(insp, index=5)


def test_inspect_also_leaves_a_static_figure(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.extend(objs))
    ins = W.inspect(I.Inspection([record()]))
    kinds = [type(o).__name__ for o in shown]
    assert kinds[0] == "VBox" and "Image" in kinds
    static = [o for o in shown if type(o).__name__ == "Image" and o.__module__.startswith("IPython")]
    assert static and static[0].data == ins.figure.value  # the PNG of the first view
    shown.clear()
    W.inspect(I.Inspection([record()]), static=False)
    assert [type(o).__name__ for o in shown] == ["VBox"]
