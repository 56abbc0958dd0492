"""fgi_core.gaze.heatmap: the reference recipe, its exact fast form, and bad inputs."""
import numpy as np
import pytest

from fgi_core.gaze import heatmap
from fgi_core.gaze.heatmap import canvas_indices


def test_pixel_rule_maps_edges_without_wrapping():
    # x = 0 -> column 0 (the authors' round(x*768)-1 wraps it to 767); x = 1 -> 767, not 768.
    rc = canvas_indices(np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.25], [0.9999, 0.001]]))
    assert rc.tolist() == [[0, 0], [767, 767], [192, 384], [0, 767]]


def test_single_central_fixation_has_the_gaussian_profile():
    # Output 768 x 768 (no resize). The kernel radius is 4 * 70 = 280 px, so far corners are
    # exactly 0 and the min-max normalisation is a division by the peak: the value 70 px from
    # the peak is exp(-70^2 / (2 * 70^2)) = exp(-0.5).
    h = heatmap(np.array([[384.5 / 768, 384.5 / 768, 200.0]]), 768, 768)
    assert h[384, 384] == pytest.approx(1.0)
    assert h[384 + 70, 384] == pytest.approx(np.exp(-0.5), abs=1e-6)
    assert h[384, 384 - 140] == pytest.approx(np.exp(-2.0), abs=1e-6)
    assert h[0, 0] == 0.0


def test_longer_fixation_dominates():
    pts = np.array([[0.2, 0.5, 100.0], [0.8, 0.5, 400.0]])
    h = heatmap(pts, 100, 200)
    row = h[50]
    assert row[160] > row[40]
    assert np.argmax(row) == pytest.approx(160, abs=2)


@pytest.mark.parametrize("size", [(529, 622), (100, 80), (768, 768), (1072, 1920)])
def test_separable_matches_reference(size):
    rng = np.random.default_rng(sum(size))
    pts = np.column_stack([rng.random((30, 2)), rng.uniform(50, 900, 30)])
    pts[0, :2] = (0.0, 1.0)  # corners exercise the reflect boundary
    fast = heatmap(pts, *size)
    ref = heatmap(pts, *size, method="reference")
    assert fast.shape == size and fast.dtype == np.float32
    assert np.abs(fast - ref).max() < 1e-5
    assert fast.min() >= 0.0 and fast.max() <= 1.0


def test_sigma_per_axis_matches_reference():
    pts = np.array([[0.3, 0.6, 250.0], [0.7, 0.2, 120.0]])
    fast = heatmap(pts, 120, 160, sigma=(50 / 768, 90 / 768))
    ref = heatmap(pts, 120, 160, sigma=(50 / 768, 90 / 768), method="reference")
    assert np.abs(fast - ref).max() < 1e-5
    # a wider sigma along x spreads the map further along x than along y
    wide = heatmap(np.array([[0.5, 0.5, 1.0]]), 200, 200, sigma=(30 / 768, 90 / 768))
    assert (wide[100] > 0.5).sum() > (wide[:, 100] > 0.5).sum()


@pytest.mark.parametrize(
    "points, message",
    [
        (np.zeros((0, 3)), "at least one fixation"),
        (np.zeros((3, 2)), r"N x 3"),
        (np.array([[1.2, 0.5, 100.0]]), r"outside \[0, 1\]"),
        (np.array([[0.5, -0.1, 100.0]]), r"outside \[0, 1\]"),
        (np.array([[0.5, 0.5, 0.0]]), "not positive"),
        (np.array([[0.5, np.nan, 10.0]]), "NaN"),
    ],
)
def test_bad_points(points, message):
    with pytest.raises(ValueError, match=message):
        heatmap(points, 10, 10)


def test_bad_size_and_method():
    pts = np.array([[0.5, 0.5, 1.0]])
    with pytest.raises(ValueError, match="size must be positive"):
        heatmap(pts, 0, 10)
    with pytest.raises(ValueError, match="Did you mean 'reference'"):
        heatmap(pts, 10, 10, method="referense")
