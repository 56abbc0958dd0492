"""Gaze simulator: a lesion mask -> a plausible fixation sequence in the GazeMedSeg convention.

Used where no gaze was recorded (the synthetic dataset; ISIC, as the paper does). Every record
made from simulated gaze says so (``simulated: true``): simulated gaze is made from the
ground-truth mask by design, so it must never be mistaken for a clinician's.

The sequence follows GazeMedSeg's recording protocol: a quick **search** scan over the image,
then a **thorough** scan of the lesion from its centre out to its boundary. Its statistics are
calibrated on the real Kvasir-SEG gaze (``KVASIR_GAZE_STATS``; 26,832 fixations on 1,000 images,
fractions inside measured on the 800 images with masks in ``shared/realdata``; the command that
re-measures them is ``python benchmarks/calibrate_simulator.py``):

* the first fixation is the fixed start point near the screen centre (real: x 0.56 +- 0.06,
  y 0.45 +- 0.04; only 45 % of first fixations are on the polyp);
* fixations per image: log-normal whose median grows with the lesion's area (real: log count =
  3.96 + 0.33 log area fraction, residual std 0.26, correlation 0.75), clipped to 5..99
  (real: median 25);
* fraction of fixations inside the lesion: real mean 0.85, median 0.90, with a heavy lower tail
  (5th percentile 0.53): modelled by a per-image search fraction ~ Beta and positional jitter
  (eye-tracker error and boundary tracing) proportional to the lesion's equivalent radius;
* durations: log-normal, at least 50 ms (the authors' filter dropped shorter ones).

Example:
    >>> import numpy as np
    >>> from fgi_core.gaze import simulate
    >>> mask = np.zeros((100, 120), bool); mask[30:70, 40:90] = True
    >>> pts = simulate(mask, np.random.default_rng(0))
    >>> pts.shape[1], bool((pts[:, 2] >= 50).all())
    (3, True)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

__all__ = ["simulate", "SimulatorParams", "KVASIR_GAZE_STATS"]

# Measured on the real data (benchmarks/calibrate_simulator.py prints these).
KVASIR_GAZE_STATS = {
    "count_median": 25.0,
    "count_min": 5,
    "count_max": 99,
    "count_log_mean": 3.219,
    "count_log_std": 0.378,
    "count_log_intercept": 3.956,
    "count_log_area_slope": 0.331,
    "count_log_residual_std": 0.255,
    "first_fixation_xy": (0.563, 0.452),
    "first_fixation_std": (0.058, 0.044),
    "duration_median_ms": 305.0,
    "duration_log_mean": 5.716,
    "duration_log_std": 0.453,
    "fraction_inside_mean": 0.846,
    "fraction_inside_median": 0.896,
    "fraction_inside_p05": 0.533,
}


@dataclass(frozen=True)
class SimulatorParams:
    """Knobs of :func:`simulate`; the defaults are calibrated on real Kvasir-SEG gaze.

    Attributes:
        count_log_intercept, count_log_area_slope, count_log_std: the number of fixations is
            log-normal with log-median ``intercept + slope * log(lesion area fraction)``.
        count_range: clip of the count (min, max).
        search_beta: Beta(a, b) of the per-image fraction of search fixations (mean a/(a+b)).
        start_xy, start_std: where the first fixation lands (normalised x, y) and its spread.
        search_spread: std of the search scan around the image centre, as a fraction of the side.
        jitter: std of the positional noise of lesion fixations, in lesion equivalent radii.
        duration_log_mean, duration_log_std: log-normal durations (ms).
        min_duration_ms: shorter durations are redrawn.
    """

    count_log_intercept: float = KVASIR_GAZE_STATS["count_log_intercept"]
    count_log_area_slope: float = KVASIR_GAZE_STATS["count_log_area_slope"]
    count_log_std: float = KVASIR_GAZE_STATS["count_log_residual_std"]
    count_range: tuple[int, int] = (5, 99)
    search_beta: tuple[float, float] = (0.5, 3.5)
    start_xy: tuple[float, float] = KVASIR_GAZE_STATS["first_fixation_xy"]
    start_std: tuple[float, float] = KVASIR_GAZE_STATS["first_fixation_std"]
    search_spread: float = 0.25
    jitter: float = 0.06
    duration_log_mean: float = KVASIR_GAZE_STATS["duration_log_mean"]
    duration_log_std: float = KVASIR_GAZE_STATS["duration_log_std"]
    min_duration_ms: float = 50.0

    def to_dict(self) -> dict:
        return asdict(self)


def _durations(n: int, p: SimulatorParams, rng: np.random.Generator) -> np.ndarray:
    d = rng.lognormal(p.duration_log_mean, p.duration_log_std, size=n)
    short = d < p.min_duration_ms
    while short.any():  # truncated log-normal by rejection; ~1 % are redrawn
        d[short] = rng.lognormal(p.duration_log_mean, p.duration_log_std, size=int(short.sum()))
        short = d < p.min_duration_ms
    return np.round(d)


def simulate(mask: np.ndarray, rng: np.random.Generator | int | None = None, params: SimulatorParams | None = None) -> np.ndarray:
    """Simulate one viewer's fixations on an image whose lesion is ``mask``.

    Args:
        mask: bool (or 0/1) H x W lesion mask; must not be empty.
        rng: a ``numpy.random.Generator`` (or a seed); the same generator state gives the
            same sequence.
        params: :class:`SimulatorParams` (defaults calibrated on real Kvasir-SEG gaze).

    Returns:
        float64 N x 3 array in fixation order: x, y normalised to [0, 1] from the top-left
        (x along the width), duration in ms (>= 50). The first fixations are the search scan,
        the rest walk from the lesion's centre out to its boundary.

    Raises:
        ValueError: mask not 2-D, or empty (nothing to look at).
    """
    m = np.asarray(mask).astype(bool)
    if m.ndim != 2:
        raise ValueError(f"mask must be H x W, got shape {m.shape}")
    if not m.any():
        raise ValueError("mask is empty: the simulator needs a lesion to look at")
    p = params or SimulatorParams()
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    h, w = m.shape

    log_median = p.count_log_intercept + p.count_log_area_slope * np.log(m.mean())
    n = int(np.clip(round(rng.lognormal(log_median, p.count_log_std)), *p.count_range))
    n_search = min(n - 1, max(1, int(round(n * rng.beta(*p.search_beta)))))
    n_lesion = n - n_search

    # Search scan: the fixed start point, then centre-biased glances over the whole image.
    start = rng.normal(p.start_xy, p.start_std, size=(1, 2))
    search = np.concatenate([start, rng.normal(0.5, p.search_spread, size=(n_search - 1, 2))])

    # Thorough scan: lesion pixels sampled uniformly, visited from the centre outwards (order by
    # depth inside the lesion, deepest first, with a little shuffling), plus positional jitter.
    ys, xs = np.nonzero(m)
    pick = rng.integers(0, len(ys), size=n_lesion)
    depth = cv2.distanceTransform(np.pad(m, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    order = np.argsort(-(depth[ys[pick], xs[pick]] + rng.normal(0, 0.1 * depth.max(), size=n_lesion)))
    pick = pick[order]
    radius = np.sqrt(m.sum() / np.pi)
    jitter = rng.normal(0.0, p.jitter * radius, size=(n_lesion, 2))
    lesion = np.stack([(xs[pick] + 0.5 + jitter[:, 0]) / w, (ys[pick] + 0.5 + jitter[:, 1]) / h], axis=1)

    xy = np.clip(np.concatenate([search, lesion]), 0.0, 1.0)
    return np.column_stack([xy, _durations(n, p, rng)])
