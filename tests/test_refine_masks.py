"""Refinement (dense CRF and its fallback) and the two pseudo-masks."""
import numpy as np
import pytest

from fgi_core.gaze import pseudo_masks, refine, refine_params, resolve_refine_method
import importlib

# the submodule (the package re-exports a function of the same name)
refine_module = importlib.import_module("fgi_core.gaze.refine")


def two_region_scene(h=60, w=80):
    """Left half dark, right half bright; a heatmap that ramps softly 0.3 -> 0.7 across the edge."""
    image = np.zeros((h, w, 3), np.uint8)
    image[:, w // 2 :] = 200
    heat = np.tile(np.linspace(0.3, 0.7, w, dtype=np.float32), (h, 1))
    return image, heat


@pytest.mark.parametrize("method", ["crf", "meanfield", "guided"])
def test_refinement_follows_the_image_edge(method):
    if method == "crf" and not refine_module.crf_available():
        pytest.skip("pydensecrf not installed")
    image, heat = two_region_scene()
    out = refine(image, heat, method=method)
    assert out.shape == heat.shape and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    # The jump across the colour edge is larger than the heatmap's smooth ramp.
    jump, ramp = out[:, 41].mean() - out[:, 38].mean(), heat[0, 41] - heat[0, 38]
    assert jump > 1.5 * ramp
    if method in ("crf", "meanfield"):
        assert jump > 4 * ramp
        # The CRF also relabels whole regions: more foreground on the bright side, less on the
        # dark side. (A guided filter only sharpens near the edge; flat regions keep the ramp.)
        left, right = slice(0, 40), slice(40, 80)
        assert out[:, right].mean() > heat[:, right].mean() + 0.05
        assert out[:, left].mean() < heat[:, left].mean() - 0.05


def test_none_returns_the_heatmap():
    image, heat = two_region_scene()
    out = refine(image, heat, method="none")
    np.testing.assert_array_equal(out, heat)
    out[0, 0] = 5
    assert heat[0, 0] != 5  # a copy, not a view


def test_crf_parameters_are_recorded_and_overridable():
    if not refine_module.crf_available():
        pytest.skip("pydensecrf not installed")
    assert refine_params("crf") == {"sxy": 80.0, "srgb": 13.0, "compat": 1.0, "iterations": 10, "clip": 1e-5}
    assert refine_params("crf", sxy=40)["sxy"] == 40
    with pytest.raises(ValueError, match="Did you mean 'srgb'"):
        refine_params("crf", srbg=3)


def test_auto_falls_back_when_the_crf_is_missing(monkeypatch):
    monkeypatch.setattr(refine_module, "crf_available", lambda: False)
    assert resolve_refine_method("auto") == "meanfield"
    with pytest.raises(ImportError, match="pip install pydensecrf2"):
        resolve_refine_method("crf")
    image, heat = two_region_scene()
    out = refine(image, heat, method="auto")  # works, through the fallback
    assert out.shape == heat.shape


@pytest.mark.parametrize(
    "image, heat, message",
    [
        (np.zeros((10, 10, 3), np.uint8), np.zeros((10, 12), np.float32), r"does not match image shape"),
        (np.zeros((10, 10, 3), np.float32), np.zeros((10, 10), np.float32), "uint8"),
        (np.zeros((10, 10), np.uint8), np.zeros((10, 10), np.float32), "H x W x 3"),
        (np.zeros((10, 10, 3), np.uint8), np.full((10, 10), 1.5, np.float32), r"in \[0, 1\]"),
    ],
)
def test_refine_bad_inputs(image, heat, message):
    with pytest.raises(ValueError, match=message):
        refine(image, heat, method="none")


def test_unknown_method_suggests():
    image, heat = two_region_scene()
    with pytest.raises(ValueError, match="Did you mean 'crf'"):
        refine(image, heat, method="crff")


def test_pseudo_masks_by_hand():
    refined = np.array([[0.1, 0.3, 0.45], [0.5, 0.8, 0.29]])
    m_hc, m_bc = pseudo_masks(refined, t_hc=0.5, t_bc=0.3)
    assert m_hc.dtype == np.uint8
    assert m_hc.tolist() == [[0, 0, 0], [1, 1, 0]]   # >= 0.5
    assert m_bc.tolist() == [[0, 1, 1], [1, 1, 0]]   # >= 0.3 (0.3 itself is in)
    assert (m_hc <= m_bc).all()


@pytest.mark.parametrize("t_hc, t_bc", [(0.3, 0.5), (0.5, 0.5), (1.2, 0.3), (0.5, -0.1)])
def test_pseudo_masks_bad_thresholds(t_hc, t_bc):
    with pytest.raises(ValueError, match="t_bc < t_hc"):
        pseudo_masks(np.zeros((2, 2)), t_hc, t_bc)


def test_meanfield_is_the_crf():
    if not refine_module.crf_available():
        pytest.skip("pydensecrf not installed")
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (37, 53, 3), dtype=np.uint8)
    heat = rng.random((37, 53)).astype(np.float32)
    np.testing.assert_allclose(refine(image, heat, method="meanfield"), refine(image, heat, method="crf"), atol=1e-5)
