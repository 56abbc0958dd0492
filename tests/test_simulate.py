"""The gaze simulator: format, determinism, protocol, and calibration against real gaze."""
import numpy as np
import pytest

from fgi_core.gaze import KVASIR_GAZE_STATS, SimulatorParams, simulate, summarise_gaze
from fgi_core.gaze.stats import fraction_inside


def disk(h=120, w=160, r=30, cy=60, cx=90):
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2


def test_format_and_ranges():
    pts = simulate(disk(), np.random.default_rng(0))
    assert pts.ndim == 2 and pts.shape[1] == 3
    assert 5 <= len(pts) <= 99
    assert ((pts[:, :2] >= 0) & (pts[:, :2] <= 1)).all()
    assert (pts[:, 2] >= 50).all()


def test_deterministic_from_the_generator_state():
    a = simulate(disk(), np.random.default_rng(3))
    b = simulate(disk(), np.random.default_rng(3))
    c = simulate(disk(), np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_most_fixations_land_on_the_lesion_and_scan_centre_out():
    mask = disk()
    rng = np.random.default_rng(0)
    inside, first_half_dist, second_half_dist = [], [], []
    for _ in range(100):
        pts = simulate(mask, rng)
        inside.append(fraction_inside(pts, mask))
        lesion = pts[np.array([mask[min(int(y * 120), 119), min(int(x * 160), 159)] for x, y, _ in pts])]
        d = np.hypot(lesion[:, 0] * 160 - 90, lesion[:, 1] * 120 - 60)
        half = len(d) // 2
        first_half_dist.append(d[:half].mean())
        second_half_dist.append(d[half:].mean())
    # calibrated on real Kvasir-SEG gaze: 85 % of fixations inside the lesion on average
    assert 0.75 < np.mean(inside) < 0.95
    # the thorough scan walks from the centre out to the boundary
    assert np.mean(first_half_dist) < np.mean(second_half_dist)


def test_params_change_behaviour():
    mask = disk()
    none = SimulatorParams(search_beta=(1e-3, 1e3), jitter=0.0)
    pts = simulate(mask, np.random.default_rng(1), none)
    assert fraction_inside(pts, mask) == 1.0  # no search scan, no jitter: all on the lesion


@pytest.mark.parametrize("mask, message", [(np.zeros((10, 10), bool), "empty"), (np.ones((2, 3, 4), bool), "H x W")])
def test_bad_masks(mask, message):
    with pytest.raises(ValueError, match=message):
        simulate(mask, 0)


@pytest.mark.realdata
def test_matches_recorded_gaze_on_real_masks(kvasir_subset):
    """On the same 20 real masks, simulated and recorded gaze agree in their main statistics."""
    from fgi_core.gaze import points_for, read_fixations

    frame, _ = read_fixations(kvasir_subset.gaze_csv(), image_ids=kvasir_subset.ids)
    masks = {i: kvasir_subset.mask(i) for i in kvasir_subset.ids}
    recorded = summarise_gaze({i: points_for(frame, i) for i in masks}, masks)
    rng = np.random.default_rng(0)
    # several simulated viewers per image, to compare distributions rather than one draw
    simulated = summarise_gaze({f"{i}/{k}": simulate(masks[i], rng) for i in masks for k in range(5)},
                               {f"{i}/{k}": masks[i] for i in masks for k in range(5)})
    assert abs(simulated["fraction_inside_mean"] - recorded["fraction_inside_mean"]) < 0.1
    assert abs(simulated["duration_median_ms"] - KVASIR_GAZE_STATS["duration_median_ms"]) < 40
    assert abs(simulated["count_median"] - KVASIR_GAZE_STATS["count_median"]) <= 5
