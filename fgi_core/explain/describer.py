"""The offline explainer ``"describer"``: a MEASUREMENT-BASED STAND-IN for a VLM, not a VLM.

:class:`DescriberExplainer` measures each field of the description from the image and the
stage-1 gaze outputs of an item (never a ground-truth mask) with fixed rules
(:data:`DESCRIBER_THRESHOLDS`; the Boundary rule of :mod:`fgi_core.explain.measures`) and writes
them as the JSON a model would, read back with :func:`fgi_core.explain.schema.parse` like any
model's answer. Its records say what made them (``model`` = :data:`DESCRIBER_MODEL`,
``extra["note"]`` = :data:`DESCRIBER_NOTE`).

It registers itself with the explainers of :mod:`fgi_core.explain.backends` when
:mod:`fgi_core.explain` is imported, so ``create_explainer("describer")`` builds one.

Example:
    >>> from fgi_core.explain.backends import create_explainer
    >>> create_explainer("describer").model
    'measurement-based describer (not a VLM)'
"""
from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np

from fgi_core.registry import look_up_option

from . import schema
from .backends import Explainer, register_explainer
from .measures import BOUNDARY_THRESHOLDS, boundary_class, edge_measures, grey_image, solidity
from .records import ExplainItem, Explanation

__all__ = ["DescriberExplainer", "DESCRIBER_MODEL", "DESCRIBER_NOTE", "DESCRIBER_THRESHOLDS"]

DESCRIBER_MODEL = "measurement-based describer (not a VLM)"
DESCRIBER_NOTE = (
    "Measurement-based stand-in for a VLM: every field is measured from the image and the stage-1 "
    "gaze outputs (fixations, refined map, M_hc, M_bc) with fixed rules; no ground truth is read "
    "and no language model is involved."
)

#: Rules and cut-offs of :class:`DescriberExplainer` (recorded in ``describe()``).
DESCRIBER_THRESHOLDS: dict[str, float] = {
    # Boundary
    "region_level": 0.5,            # the region R is refined >= 0.5
    **BOUNDARY_THRESHOLDS,          # solidity, edge strength and width: fgi_core.explain.measures
    # Confidence
    "confidence_high_inside": 0.75,  # fraction of fixation time inside R
    "confidence_medium_inside": 0.50,
    "confidence_max_spread": 1.5,    # fixation spread / region radius above this lowers one level
    # Characteristics, endoscopy (inside M_hc minus the ring around M_bc, medians)
    "endo_reddish_dr": 0.02,         # delta red chromaticity R/(R+G+B) at least -> reddish mucosal protrusion
    "endo_pale_dr": -0.02,           # delta red chromaticity at most -> pale mucosal protrusion
    "endo_lobulated_solidity": 0.85,  # M_hc solidity below -> lobulated mass
    "endo_flat_contrast": 4.0,       # colour difference (delta E) below -> flat lesion
    # Characteristics, MRI (grey levels 0..255)
    "mri_heterogeneous_std": 12.0,   # std inside at least ... and
    "mri_heterogeneous_ratio": 1.5,  # ... that many times the std around -> heterogeneous signal
    "mri_intensity_delta": 10.0,     # |mean inside - mean around| at least -> hyper / hypointense
    # Characteristics, dermoscopy (CIE L*a*b*, inside M_hc)
    "derm_pink_hue_max": 30.0,       # hue angle atan2(b*, a*) in degrees below this and
    "derm_pink_lightness_min": 55.0,  # ... L* above this -> pink lesion
    "derm_variegated_std": 10.0,     # colour spread (RMS delta E to the mean) at least -> variegated
    "derm_uniform_std": 5.0,         # colour spread below -> uniformly pigmented
    "derm_dark_lightness": 45.0,     # L* below -> dark brown, else light brown
}


def _weighted_centroid(weights: np.ndarray) -> tuple[float, float] | None:
    total = float(weights.sum())
    if total <= 0:
        return None
    h, w = weights.shape
    ys, xs = np.mgrid[0:h, 0:w]
    return float((weights * (xs + 0.5)).sum() / total / w), float((weights * (ys + 0.5)).sum() / total / h)


def _fixations(points: Any) -> np.ndarray | None:
    """N x 3 fixations with finite values and a positive duration; None when there are none."""
    if points is None:
        return None
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1) & (pts[:, 2] > 0)]
    return pts if len(pts) else None


def _remarks(confidence: str, location: str, descriptor: str, boundary: str, area_fraction: float) -> str:
    """The Remarks sentence, from the other fields' measurements."""
    focus = {"high": "concentrated on", "medium": "mostly on", "low": "scattered around"}[confidence]
    where = "the center" if location == "center" else f"the {location}"
    pct = max(1, int(round(area_fraction * 100)))
    return f"Gaze {focus} a {descriptor}, {boundary} region in {where}; about {pct}% of the image (measured, not a VLM)."


def _lab(image: np.ndarray) -> np.ndarray:
    """float32 CIE L*a*b* (L* 0..100, a*, b* about -128..127) of a uint8 RGB image."""
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(image, dtype=np.float32) / np.float32(255.0), cv2.COLOR_RGB2LAB)


def _ring(mask: np.ndarray, width: int) -> np.ndarray:
    """Pixels outside ``mask`` within ``width`` pixels of it (the surroundings)."""
    import cv2

    dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
    return (~mask) & (dist <= width)


def _f(x: Any) -> float | None:
    """JSON-friendly float (None for NaN)."""
    x = float(x)
    return None if not np.isfinite(x) else round(x, 4)


@register_explainer("describer")
class DescriberExplainer(Explainer):
    """The offline default: a MEASUREMENT-BASED STAND-IN for a VLM (it is not a VLM).

    Every field is *measured* from the image and the stage-1 gaze outputs of the item only
    (fixations, heatmap, refined map, M_hc, M_bc); it never reads a ground-truth mask (an
    ExplainItem has none). The answer is written as the JSON text a VLM would give
    (``raw_text``) and read with :func:`schema.parse` like any model's (status ``ok``). Records
    carry ``model = "measurement-based describer (not a VLM)"``, ``extra["note"]`` saying so,
    and the raw numbers in ``extra["measurements"]``. Cut-offs: :data:`DESCRIBER_THRESHOLDS`.

    Region: R = ``refined >= 0.5`` (falling back to M_hc, M_bc, then ``heatmap >= 0.5``); an
    item with none of them is returned ``invalid`` with the reason. Missing M_hc / M_bc fall
    back to R.

    Fields:

    * **Location** -- :func:`schema.location_cell` of the duration-weighted fixation centroid;
      without fixations, of the refined map's (value-weighted) centroid.
    * **Area Percentage** -- :func:`schema.area_bin` of ``M_bc.mean()``.
    * **Boundary** -- ``irregular`` when R's solidity (area / convex-hull area) < 0.80;
      otherwise ``well-defined`` when the edge along R's contour is both *strong* and *sharp*,
      else ``ill-defined``. On the grey image (lightly smoothed, sigma 1 px) the Sobel gradient
      magnitude (grey levels per pixel) is taken at R's contour pixels, each as the largest
      value within ``r = max(1, 1.5 % of the short side)`` px (tolerates a contour a few pixels
      off the edge); g_edge is their median. *Strong*: g_edge / max(median gradient of the
      image, 0.5) >= 3. *Sharp*: the ramp width ``step / g_edge`` -- step being the difference
      of the median grey levels in the rings k..2k px inside and outside the contour,
      ``k = max(2, 4 % of the short side)`` -- is at most 5 % of the image's short side (a step
      blurred by a Gaussian of sigma s has width ~2.5 s).
    * **Characteristics** -- colour / intensity inside M_hc against the ring of pixels within
      ``max(3, 8 % of the short side)`` px around M_bc (medians; CIE L*a*b*):

      - endoscopy (red chromaticity r = R / (R + G + B), robust to the uneven illumination):
        delta r >= +0.02 -> ``reddish mucosal protrusion``; delta r <= -0.02 (paler, whiter or
        yellower than the mucosa) -> ``pale mucosal protrusion``; M_hc solidity < 0.85 ->
        ``lobulated mass``; delta E (L*a*b*) < 4 -> ``flat lesion``; otherwise ``sessile
        polyp`` (``pedunculated polyp`` needs a stalk, which is not measured: never chosen);
      - mri (grey levels): std inside >= 12 and >= 1.5 x the std around -> ``heterogeneous
        signal``; mean inside - mean around >= +10 -> ``hyperintense region``, <= -10 ->
        ``hypointense region``; otherwise ``homogeneous signal gland``;
      - dermoscopy: hue angle atan2(b*, a*) < 30 deg and L* > 55 -> ``pink lesion``; colour
        spread (RMS delta E to the mean colour) >= 10 -> ``variegated pigmentation``; < 5 ->
        ``uniformly pigmented lesion``; otherwise L* < 45 -> ``dark brown lesion``, else
        ``light brown lesion``.
    * **Confidence** -- from gaze concentration: f = share of fixation time inside R (without
      fixations: share of the heatmap's mass inside R); ``high`` if f >= 0.75, ``medium`` if
      f >= 0.5, else ``low``; lowered one level when the fixations' duration-weighted RMS
      distance from their centroid exceeds 1.5 x R's equivalent radius sqrt(area / pi).
    * **Remarks** -- a templated sentence from the measurements, e.g. "Gaze concentrated on a
      reddish, well-defined region in the upper-left; about 12% of the image (measured, not a
      VLM)."
    """

    name = "describer"
    model = DESCRIBER_MODEL

    def __init__(self) -> None:
        self.thresholds = dict(DESCRIBER_THRESHOLDS)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "note": DESCRIBER_NOTE, "thresholds": dict(self.thresholds)}

    def explain(self, items: Sequence[ExplainItem]) -> list[Explanation]:
        records = []
        for item in items:
            try:
                fields, measurements = self.measure(item)
            except _MissingInput as err:
                records.append(Explanation(
                    id=item.id, fields=None, status="invalid", reason=str(err), raw_text="", backend=self.name,
                    model=self.model, prompt_version=schema.PROMPT_VERSION, attempts=1,
                    extra={"simulated_gaze": bool(item.simulated_gaze), "note": DESCRIBER_NOTE},
                ))
                continue
            raw = json.dumps(fields, ensure_ascii=False)
            records.append(self._record(item, raw, 1, {"note": DESCRIBER_NOTE, "measurements": measurements}))
        return records

    # ------------------------------------------------------------------------------------------
    def measure(self, item: ExplainItem) -> tuple[dict[str, str], dict[str, Any]]:
        """The six fields of ``item`` and the measurements behind them, one step per field."""
        image, maps = self._inputs(item)
        region_source, region, hc, bc = self._region(maps)
        m: dict[str, Any] = {"region_source": region_source, "region_fraction": _f(region.mean())}
        points = _fixations(item.points)
        location, centroid = self._location(points, maps, region, m)
        area_fraction = float(bc.mean())
        m["area_fraction_m_bc"] = _f(area_fraction)
        grey = grey_image(image)
        boundary = self._boundary(grey, region, m)
        characteristics, descriptor = self._characteristics_around(item.modality, image, grey, hc, bc, m)
        confidence = self._confidence(points, maps, region, centroid, m)
        fields = {
            "Location": location,
            "Boundary": boundary,
            "Characteristics": characteristics,
            "Area Percentage": schema.area_bin(area_fraction),
            "Confidence": confidence,
            "Remarks": _remarks(confidence, location, descriptor, boundary, area_fraction),
        }
        return fields, m

    @staticmethod
    def _inputs(item: ExplainItem) -> tuple[np.ndarray, dict[str, np.ndarray | None]]:
        """The item's uint8 H x W x 3 image and its gaze maps (``refined``, ``heatmap``, ``m_hc``,
        ``m_bc``; None where missing), each checked to be H x W."""
        image = np.asarray(item.image)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] != 3:
            raise _MissingInput(f"describer: image must be H x W x 3, got shape {image.shape}")
        image = image.astype(np.uint8, copy=False)
        h, w = image.shape[:2]
        maps = {}
        for name in ("refined", "heatmap", "m_hc", "m_bc"):
            a = getattr(item, name)
            if a is not None:
                a = np.asarray(a)
                if a.shape != (h, w):
                    raise _MissingInput(f"describer: {name} has shape {a.shape}, the image {(h, w)}")
            maps[name] = a
        return image, maps

    def _region(self, maps: dict[str, np.ndarray | None]) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
        """(source, R, the M_hc used, the M_bc used): R = refined >= 0.5, else M_hc, M_bc,
        heatmap >= 0.5; a missing or empty M_hc / M_bc is replaced by R."""
        refined, heat, m_hc, m_bc = maps["refined"], maps["heatmap"], maps["m_hc"], maps["m_bc"]
        level = self.thresholds["region_level"]
        candidates = [
            ("refined >= 0.5", None if refined is None else refined >= level),
            ("m_hc", None if m_hc is None else m_hc > 0),
            ("m_bc", None if m_bc is None else m_bc > 0),
            ("heatmap >= 0.5", None if heat is None else heat >= level),
        ]
        region_source, region = next(((n, r) for n, r in candidates if r is not None and r.any()), (None, None))
        if region is None:
            raise _MissingInput(
                "describer: no gaze region to describe (refined, m_hc, m_bc and heatmap are all missing or empty); "
                "run the gaze stage first"
            )
        hc = m_hc > 0 if m_hc is not None and m_hc.any() else region
        bc = m_bc > 0 if m_bc is not None and m_bc.any() else region
        return region_source, region, hc, bc

    @staticmethod
    def _location(points: np.ndarray | None, maps: dict, region: np.ndarray, m: dict) -> tuple[str, tuple[float, float]]:
        """Location: the cell of the duration-weighted fixation centroid (else of the refined map's)."""
        refined, heat = maps["refined"], maps["heatmap"]
        if points is not None:
            wts = points[:, 2] / points[:, 2].sum()
            cx, cy = float(np.clip(wts @ points[:, 0], 0, 1)), float(np.clip(wts @ points[:, 1], 0, 1))
            m["location_source"] = "duration-weighted gaze centroid"
        else:
            weights = refined if refined is not None else heat if heat is not None else region.astype(np.float32)
            cx, cy = _weighted_centroid(np.clip(weights.astype(np.float64), 0, None)) or _weighted_centroid(region.astype(np.float64))
            m["location_source"] = "refined-map centroid" if refined is not None else "map centroid"
        m["centroid"] = [_f(cx), _f(cy)]
        return schema.location_cell(cx, cy), (cx, cy)

    def _boundary(self, grey: np.ndarray, region: np.ndarray, m: dict) -> str:
        """Boundary: the rule of :mod:`fgi_core.explain.measures` on R's contour."""
        t = self.thresholds
        e = edge_measures(grey, region, t["gradient_floor"])
        m.update({k: _f(e[k]) for k in ("edge_gradient", "image_median_gradient", "edge_strength", "edge_step",
                                        "edge_width_px", "edge_width", "solidity")})
        return boundary_class(e, t)

    def _characteristics_around(self, modality: str, image: np.ndarray, grey: np.ndarray, hc: np.ndarray,
                                bc: np.ndarray, m: dict) -> tuple[str, str]:
        """Characteristics of M_hc against the ring of ``max(3, 8 % of the short side)`` px around M_bc."""
        ring = _ring(bc, max(3, int(round(0.08 * min(image.shape[:2])))))
        if not ring.any():
            ring = ~hc
        if not ring.any():
            ring = np.ones_like(hc)
        characteristics, descriptor, cm = self._characteristics(modality, image, grey, hc, ring)
        m.update(cm)
        return characteristics, descriptor

    def _confidence(self, points: np.ndarray | None, maps: dict, region: np.ndarray, centroid: tuple[float, float],
                    m: dict) -> str:
        """Confidence from the share of gaze inside R, lowered one level for a wide gaze spread."""
        t = self.thresholds
        h, w = region.shape
        cx, cy = centroid
        radius = float(np.sqrt(region.sum() / np.pi))
        if points is not None:
            from ..gaze.coords import pixel_indices

            yi, xi = pixel_indices(points[:, 0], points[:, 1], h, w)
            wts = points[:, 2] / points[:, 2].sum()
            inside = float(wts[region[yi, xi]].sum())
            dx, dy = points[:, 0] * w - cx * w, points[:, 1] * h - cy * h
            spread = float(np.sqrt(wts @ (dx * dx + dy * dy)))
            m["confidence_source"] = "fixation time inside R"
        else:
            heat, refined = maps["heatmap"], maps["refined"]
            mass = np.clip((heat if heat is not None else refined if refined is not None else region).astype(np.float64), 0, None)
            total = float(mass.sum())
            inside = float(mass[region].sum() / total) if total > 0 else 0.0
            ys, xs = np.mgrid[0:h, 0:w]
            spread = float(np.sqrt((mass * ((xs + 0.5 - cx * w) ** 2 + (ys + 0.5 - cy * h) ** 2)).sum() / total)) if total > 0 else float("inf")
            m["confidence_source"] = "map mass inside R"
        spread_ratio = spread / radius if radius > 0 else float("inf")
        rank = 2 if inside >= t["confidence_high_inside"] else 1 if inside >= t["confidence_medium_inside"] else 0
        if spread_ratio > t["confidence_max_spread"]:
            rank = max(0, rank - 1)
        m.update({"gaze_inside": _f(inside), "gaze_spread_px": _f(spread), "region_radius_px": _f(radius), "gaze_spread_ratio": _f(spread_ratio),
                  "fixations": 0 if points is None else int(len(points))})
        return ("low", "medium", "high")[rank]

    def _characteristics(self, modality: str, image: np.ndarray, grey: np.ndarray, inside: np.ndarray, around: np.ndarray):
        """(vocabulary phrase, short adjective for the remarks, measurements)."""
        modality = look_up_option(modality, schema.MODALITIES, "modality")
        t = self.thresholds
        m: dict[str, Any] = {}
        if modality == "mri":
            g_in, g_out = grey[inside], grey[around]
            delta = float(np.mean(g_in) - np.mean(g_out))
            std_in, std_out = float(np.std(g_in)), float(np.std(g_out))
            m.update({"intensity_inside": _f(np.mean(g_in)), "intensity_around": _f(np.mean(g_out)), "intensity_delta": _f(delta),
                      "std_inside": _f(std_in), "std_around": _f(std_out)})
            if std_in >= t["mri_heterogeneous_std"] and std_in >= t["mri_heterogeneous_ratio"] * max(std_out, 1e-6):
                return "heterogeneous signal", "heterogeneous", m
            if delta >= t["mri_intensity_delta"]:
                return "hyperintense region", "hyperintense", m
            if delta <= -t["mri_intensity_delta"]:
                return "hypointense region", "hypointense", m
            return "homogeneous signal gland", "homogeneous", m

        lab = _lab(image)
        lab_in = lab[inside]
        med_in, med_out = np.median(lab_in, axis=0), np.median(lab[around], axis=0)
        dl, da, db = (float(v) for v in med_in - med_out)
        m.update({"lab_inside": [_f(v) for v in med_in], "lab_around": [_f(v) for v in med_out],
                  "delta_L": _f(dl), "delta_a": _f(da), "delta_b": _f(db), "delta_E": _f(np.sqrt(dl * dl + da * da + db * db))})
        if modality == "endoscopy":
            rgb = image.astype(np.float32)
            chroma = rgb[..., 0] / np.maximum(rgb.sum(axis=2), 1.0)
            dr = float(np.median(chroma[inside]) - np.median(chroma[around]))
            solidity_hc = solidity(inside)
            m.update({"delta_red_chromaticity": _f(dr), "solidity_m_hc": _f(solidity_hc)})
            if dr >= t["endo_reddish_dr"]:
                return "reddish mucosal protrusion", "reddish", m
            if dr <= t["endo_pale_dr"]:
                return "pale mucosal protrusion", "pale", m
            if solidity_hc < t["endo_lobulated_solidity"]:
                return "lobulated mass", "lobulated", m
            if np.sqrt(dl * dl + da * da + db * db) < t["endo_flat_contrast"]:
                return "flat lesion", "flat", m
            return "sessile polyp", "raised", m

        # dermoscopy
        L, a, b = (float(v) for v in med_in)
        hue = float(np.degrees(np.arctan2(b, a)))
        spread = float(np.sqrt(np.mean(np.sum((lab_in - lab_in.mean(axis=0)) ** 2, axis=1))))
        m.update({"hue_deg": _f(hue), "colour_spread": _f(spread)})
        if hue < t["derm_pink_hue_max"] and L > t["derm_pink_lightness_min"]:
            return "pink lesion", "pink", m
        if spread >= t["derm_variegated_std"]:
            return "variegated pigmentation", "variegated", m
        if spread < t["derm_uniform_std"]:
            return "uniformly pigmented lesion", "uniformly pigmented", m
        if L < t["derm_dark_lightness"]:
            return "dark brown lesion", "dark brown", m
        return "light brown lesion", "light brown", m


class _MissingInput(ValueError):
    """The describer lacks what it measures (no gaze maps, wrong shapes)."""
