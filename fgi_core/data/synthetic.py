"""Synthetic lesion images: one lesion per image, its exact mask, three imitated modalities.

The quick profile, the tests and the notebooks need data that is made in milliseconds, needs no
download, and whose ground truth is exact. :func:`generate_sample` draws one image and its mask
from ``numpy.random.default_rng([seed, index])``; :class:`SyntheticDataset` (registry name
``synthetic``) wraps it as a :class:`~fgi_core.data.base.SegmentationDataset` whose gaze is
simulated from the masks (``fgi_core.gaze.simulate``, flagged ``simulated``).

The lesion
    One connected, star-shaped irregular blob: a radius ``r(theta)`` perturbed by random
    Fourier harmonics 2..5, stretched and rotated (area-preserving), with an area fraction of
    the image drawn uniformly in ``lesion_size`` and a centre placed so that the whole blob
    lies inside the image (inside the body for ``mri``). The mask is that blob sampled at the
    pixel centres: exactly one 8-connected component.

The three flavours (``FLAVOURS``)
    ``endoscopy``   colonoscopy (Kvasir-SEG-like): pinkish-red mucosa with smooth shading, a
                    dark lumen, darker curved folds, a dark vignette towards the corners and a
                    few specular white highlights; the lesion is a polyp: a raised, shaded dome
                    of a different hue and brightness with surface texture and its own
                    highlight. RGB uint8 H x W x 3.
    ``mri``         T2-like pelvic slice (NCI-ISBI-like): dark background, a bright-ish body
                    ellipse with a fat rim, darker muscle, a smooth multiplicative bias field
                    and Rician noise; the lesion is an organ-like blob of different intensity
                    (two zones) inside the body. Single channel uint8 H x W.
    ``dermoscopy``  skin lesion (ISIC-like): skin-tone background with texture and a soft
                    dermoscope vignette; the lesion is a darker brown irregular blob with
                    internal variegation and dark globules; thin dark hairs cross the image
                    as clutter. RGB uint8 H x W x 3.

Difficulty knobs
    ``contrast``       scales the lesion-vs-background appearance difference (``0``: the lesion
                       is invisible, the mask is unchanged; ``> 1`` exaggerates it). The
                       distractors' contrast is a fraction of it.
    ``boundary_blur``  Gaussian sigma (pixels) of the lesion's alpha matte before compositing
                       (``0``: a sharp edge; the kernel is cut at 3 sigma). The mask is always
                       the sharp blob.
    ``lesion_size``    (min, max) area fraction of the lesion, ``0 < min <= max < 0.8``. The
                       blob must fit inside the image (``mri``: inside the body), so it is
                       shrunk until it fits where it cannot: above about 0.7 of the image
                       (``mri``: about 0.35) the drawn area is smaller than asked.
    ``distractors``    number of lesion-like blobs (0.15..0.45 of the lesion's area) of lower
                       contrast (0.3..0.6 times the lesion's) placed elsewhere: neither they nor
                       their blurred edges touch the mask. One that finds no room is halved
                       up to four times, then left out (a large ``mri`` lesion can fill the
                       body).

The parts of an image come from separate random streams derived from ``(seed, index)``, so
changing a knob changes only what it is about: the mask and the background stay the same for
every ``contrast``, ``boundary_blur`` and ``distractors`` value.

Example:
    >>> from fgi_core.data.synthetic import generate_sample
    >>> image, mask = generate_sample(3, seed=0, flavour="dermoscopy", size=(96, 128))
    >>> image.shape, image.dtype, mask.shape, mask.dtype
    ((96, 128, 3), dtype('uint8'), (96, 128), dtype('bool'))
    >>> generate_sample(3, flavour="mri", size=(96, 128), contrast=0.5)[0].shape
    (96, 128)
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from ..config import DatasetPreset
from ..registry import look_up_option
from .base import SegmentationDataset, get_preset, register_dataset

__all__ = ["FLAVOURS", "generate_sample", "SyntheticDataset"]

FLAVOURS = ("endoscopy", "mri", "dermoscopy")

_HARMONICS = np.arange(2, 6)  # Fourier harmonics of the blob radius
_N_BOUNDARY = 180  # boundary samples used for placement checks


# ----------------------------------------------------------------------------------------------
# Argument checks
# ----------------------------------------------------------------------------------------------
def _int_arg(value, name: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _float_arg(value, name: str) -> float:
    bad_type = isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)
    if bad_type or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _check_args(flavour, size, contrast, boundary_blur, lesion_size, distractors):
    flavour = look_up_option(flavour, FLAVOURS, "synthetic flavour")
    try:
        h, w = size
    except (TypeError, ValueError):
        raise ValueError(f"size must be (height, width), got {size!r}") from None
    for v in (h, w):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or v < 32:
            raise ValueError(f"size must be (height, width) with integers >= 32, got {size!r}")
    contrast = _float_arg(contrast, "contrast")
    boundary_blur = _float_arg(boundary_blur, "boundary_blur")
    try:
        lo, hi = (float(v) for v in lesion_size)
    except (TypeError, ValueError):
        raise ValueError(f"lesion_size must be (min, max) area fractions, got {lesion_size!r}") from None
    if not 0.0 < lo <= hi < 0.8:
        raise ValueError(f"lesion_size must satisfy 0 < min <= max < 0.8 (area fractions), got {lesion_size!r}")
    distractors = _int_arg(distractors, "distractors", 0)
    return flavour, (int(h), int(w)), contrast, boundary_blur, (lo, hi), distractors


# ----------------------------------------------------------------------------------------------
# Geometry: star-shaped blobs and smooth random fields
# ----------------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (x, y), float32 H x W each, read-only (cached per size)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    xx.setflags(write=False)
    yy.setflags(write=False)
    return xx, yy


@dataclass(frozen=True)
class _Blob:
    """A star-shaped blob: ``rho <= radius * (1 + sum_k amps_k cos(k theta + phases_k))`` in a
    frame rotated by ``angle`` and stretched by ``aspect`` (area-preserving)."""

    cx: float
    cy: float
    radius: float
    aspect: float
    angle: float
    amps: np.ndarray
    phases: np.ndarray

    def _r(self, theta: np.ndarray) -> np.ndarray:
        k = _HARMONICS.reshape((-1,) + (1,) * theta.ndim)
        a = self.amps.reshape(k.shape)
        p = self.phases.reshape(k.shape)
        return self.radius * (1.0 + (a * np.cos(k * theta[None] + p)).sum(axis=0))

    def offsets(self) -> tuple[np.ndarray, np.ndarray]:
        """Boundary points relative to the centre (dx, dy), ``_N_BOUNDARY`` each."""
        theta = np.linspace(0.0, 2 * np.pi, _N_BOUNDARY, endpoint=False)
        r = self._r(theta)
        u, v = r * np.cos(theta), r * np.sin(theta)
        c, s = math.cos(self.angle), math.sin(self.angle)
        return self.aspect * u * c - v / self.aspect * s, self.aspect * u * s + v / self.aspect * c

    def window(self, h: int, w: int, pad: float) -> tuple[slice, slice]:
        dx, dy = self.offsets()
        x0 = max(0, int(math.floor(self.cx + dx.min() - pad)))
        x1 = min(w, int(math.ceil(self.cx + dx.max() + pad)) + 1)
        y0 = max(0, int(math.floor(self.cy + dy.min() - pad)))
        y1 = min(h, int(math.ceil(self.cy + dy.max() + pad)) + 1)
        return slice(y0, max(y0, y1)), slice(x0, max(x0, x1))

    def field(self, h: int, w: int, pad: float = 0.0) -> np.ndarray:
        """Normalised radius ``t`` (0 at the centre, 1 on the boundary), float32 H x W.

        Computed in the blob's bounding box grown by ``pad`` pixels; 4.0 elsewhere."""
        t = np.full((h, w), 4.0, np.float32)
        ys, xs = self.window(h, w, pad)
        xx, yy = _grid(h, w)
        dx, dy = xx[ys, xs] - self.cx, yy[ys, xs] - self.cy
        c, s = math.cos(self.angle), math.sin(self.angle)
        u = (dx * c + dy * s) / self.aspect
        v = (-dx * s + dy * c) * self.aspect
        theta = np.arctan2(v, u)
        t[ys, xs] = np.minimum(np.hypot(u, v) / self._r(theta), 4.0)
        return t

    def mask(self, h: int, w: int) -> np.ndarray:
        """Pixels whose centre lies in the blob, bool H x W: one 8-connected component."""
        m = self.field(h, w, pad=1.0) <= 1.0
        n, labels = cv2.connectedComponents(m.view(np.uint8), connectivity=8)
        if n > 2:  # a sliver cut off by pixel sampling: keep the component at the centre
            cy, cx = min(h - 1, max(0, round(self.cy))), min(w - 1, max(0, round(self.cx)))
            keep = labels[cy, cx] or np.bincount(labels.ravel())[1:].argmax() + 1
            m = labels == keep
        return m


def _random_shape(
    rng: np.random.Generator, area_px: float, calm: float = 1.0, stretch: float = 1.0, angle: float | None = None
) -> _Blob:
    """A random blob shape of ``area_px`` pixels centred at (0, 0); ``calm`` in [0, 1] scales
    its irregularity and elongation, ``stretch`` multiplies its aspect."""
    amps = rng.uniform(0.0, 1.0, len(_HARMONICS)) / _HARMONICS**1.1
    amps *= rng.uniform(0.12, 0.32) * calm / amps.sum()  # r(theta) >= 0.68 * radius
    phases = rng.uniform(0.0, 2 * np.pi, len(_HARMONICS))
    aspect = (1.0 + rng.uniform(0.0, 0.45) * calm) * stretch
    angle = rng.uniform(0.0, np.pi) if angle is None else angle
    # area of r(theta)^2 / 2 over the circle: pi R^2 (1 + sum a_k^2 / 2); the stretch keeps area
    radius = math.sqrt(area_px / (math.pi * (1.0 + 0.5 * float((amps**2).sum()))))
    return _Blob(0.0, 0.0, radius, aspect, angle, amps, phases)


def _draw_blob(
    rng: np.random.Generator,
    h: int,
    w: int,
    area_px: float,
    margin: float,
    region: tuple[float, float, float, float] | None = None,
    tries: int = 12,
    fallback: bool = True,
) -> _Blob | None:
    """A random blob of ``area_px`` pixels whose boundary keeps ``margin`` px from the image
    edge and, when ``region = (cx, cy, ax, ay)`` is given, lies inside that ellipse.

    Later tries are rounder and stretched along the longer side of the space. When nothing
    fits, the fallback is an ellipse similar to the space, shrunk to fit if it must (only for
    very large lesions); without ``fallback`` None is returned then."""
    in_ellipse = region is not None  # else only the image rectangle binds (the fallback uses its ellipse)
    if region is None:
        region = ((w - 1) / 2.0, (h - 1) / 2.0, (w - 1) / 2.0 - margin, (h - 1) / 2.0 - margin)
    ecx, ecy, eax, eay = region
    elong = math.sqrt(max(eax, eay) / max(min(eax, eay), 1e-6))  # aspect that matches the space
    long_angle = 0.0 if eax >= eay else np.pi / 2
    for attempt in range(tries):
        calm = 1.0 - attempt / tries
        angle = None if attempt < tries // 2 else long_angle + rng.uniform(-0.2, 0.2)
        shape = _random_shape(rng, area_px, calm, elong ** (1.0 - calm), angle)
        radius, aspect, angle, amps, phases = shape.radius, shape.aspect, shape.angle, shape.amps, shape.phases
        dx, dy = shape.offsets()
        lo_x, hi_x = max(margin, ecx - eax) - dx.min(), min(w - 1 - margin, ecx + eax) - dx.max()
        lo_y, hi_y = max(margin, ecy - eay) - dy.min(), min(h - 1 - margin, ecy + eay) - dy.max()
        if lo_x > hi_x or lo_y > hi_y:
            continue
        for _ in range(16):
            cx, cy = rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y)
            if not in_ellipse or np.all(((cx + dx - ecx) / eax) ** 2 + ((cy + dy - ecy) / eay) ** 2 <= 1.0):
                return _Blob(cx, cy, radius, aspect, angle, amps, phases)
    if not fallback:
        return None
    # An ellipse similar to the region, scaled by s <= 1, fits anywhere its centre is within
    # (1 - s) of the region's centre (in the region's normalised coordinates).
    zero = np.zeros(len(_HARMONICS))
    full = math.sqrt(eax * eay)
    radius = min(math.sqrt(area_px / math.pi), full)
    slack = 1.0 - radius / full
    ang, rad = rng.uniform(0.0, 2 * np.pi), slack * math.sqrt(rng.uniform())
    cx, cy = ecx + rad * eax * math.cos(ang), ecy + rad * eay * math.sin(ang)
    return _Blob(cx, cy, max(radius, 1.0), math.sqrt(eax / eay), 0.0, zero, zero)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: float) -> np.ndarray:
    """Smooth random field with about ``cells`` bumps along the shorter side, float32, std ~1."""
    short = min(h, w)
    gh = max(2, int(round(cells * h / short))) + 2
    gw = max(2, int(round(cells * w / short))) + 2
    g = rng.standard_normal((gh, gw)).astype(np.float32)
    f = cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)
    return (f - f.mean()) / (f.std() + 1e-6)


def _fine_noise(rng: np.random.Generator, h: int, w: int, sigma: float = 0.8) -> np.ndarray:
    """Pixel-scale texture, float32, std ~1."""
    n = rng.standard_normal((h, w), dtype=np.float32)
    if sigma > 0:
        n = cv2.GaussianBlur(n, (0, 0), sigma)
    return n / (n.std() + 1e-6)


def _alpha_reach(sigma: float) -> int:
    """Pixels an alpha matte reaches beyond its mask: the blur kernel is cut at 3 sigma."""
    return int(math.ceil(3.0 * sigma))


def _alpha(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Alpha matte: the mask as float32, Gaussian-blurred by ``sigma`` (0 = sharp); exactly 0
    farther than :func:`_alpha_reach` pixels from the mask."""
    a = mask.astype(np.float32)
    if sigma <= 0:
        return a
    k = 2 * _alpha_reach(sigma) + 1
    return cv2.GaussianBlur(a, (k, k), sigma, borderType=cv2.BORDER_CONSTANT)


def _composite(base: np.ndarray, look: np.ndarray, alpha: np.ndarray, strength: float) -> np.ndarray:
    """``base + strength * alpha * (look - base)`` (strength > 1 extrapolates)."""
    a = alpha * np.float32(strength)
    if base.ndim == 3:
        a = a[..., None]
    return base + a * (look - base)


def _dome_shading(t: np.ndarray, radius: float, light: tuple[float, float, float]) -> np.ndarray:
    """Lambert shading of a paraboloid dome of height ``1 - t^2``; 1 on flat ground."""
    height = np.clip(1.0 - t * t, 0.0, None)
    scale = np.float32(0.9 * radius / 8.0)  # slope in units of the radius
    gx = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3) * scale
    gy = cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3) * scale
    lx, ly, lz = light
    return (-gx * lx - gy * ly + lz) / np.sqrt(gx * gx + gy * gy + 1.0) / lz


def _spots(h: int, w: int, xs, ys, sizes, aspect=None, angles=None) -> np.ndarray:
    """Soft elliptical spots (value 1 at their centres), float32 H x W."""
    canvas = np.zeros((h, w), np.uint8)
    for i, (x, y, s) in enumerate(zip(xs, ys, sizes)):
        a = 1.0 if aspect is None else aspect[i]
        ang = 0.0 if angles is None else angles[i]
        axes = (max(1, int(round(s * a * 16))), max(1, int(round(s / a * 16))))
        cv2.ellipse(canvas, (int(round(x * 16)), int(round(y * 16))), axes, ang, 0, 360, 255, -1, cv2.LINE_AA, 4)
    return cv2.GaussianBlur(canvas.astype(np.float32) * np.float32(1 / 255), (0, 0), 0.8)


def _place_distractors(rng, h, w, n, lesion_mask, lesion_area, margin, region=None):
    """Up to ``n`` smaller blobs, each with its mask and relative contrast, kept ``margin`` px
    away from the lesion and each other (and inside ``region``, an ellipse, when given).

    A centre is drawn among the pixels whose distance to anything taken exceeds the blob's
    reach; a blob that finds none is halved, four times at most, then left out."""
    ring = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * int(margin) + 1,) * 2)
    free = ~cv2.dilate(lesion_mask.view(np.uint8), ring).view(bool)
    if region is not None:
        xx, yy = _grid(h, w)
        ecx, ecy, eax, eay = region
        free &= ((xx - ecx) / eax) ** 2 + ((yy - ecy) / eay) ** 2 <= 1.0
    blobs = []
    for _ in range(n):
        area = max(16.0, lesion_area * rng.uniform(0.15, 0.45))
        for _ in range(5):
            shape = _random_shape(rng, area)
            dx, dy = shape.offsets()
            reach = float(np.hypot(dx, dy).max()) + 1.5
            dist = cv2.distanceTransform(np.pad(free.view(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
            ys, xs = np.nonzero(dist > reach)
            if len(ys):
                k = int(rng.integers(len(ys)))
                blob = dataclasses.replace(shape, cx=float(xs[k]), cy=float(ys[k]))
                m = blob.mask(h, w)
                blobs.append((blob, m, float(rng.uniform(0.3, 0.6))))
                free &= ~cv2.dilate(m.view(np.uint8), ring).view(bool)
                break
            area *= 0.5
    return blobs


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# Flavours
# ----------------------------------------------------------------------------------------------
def _endoscopy(r, h, w, lesion_size, contrast, blur, n_distractors):
    """Colonoscopy frame: mucosa, polyp (and polyp-like distractors), endoscope light, highlights."""
    frac = r["geom"].uniform(*lesion_size)
    lesion = _draw_blob(r["geom"], h, w, frac * h * w, margin=2.0)
    mask = lesion.mask(h, w)
    base, bg = _mucosa(r["bg"], h, w)
    colour, light = _polyp_colour_and_light(r["look"], base)
    pad = _alpha_reach(blur) + 2  # the window of a blob's look covers its blurred matte
    albedo = bg
    for blob, m, rel in _place_distractors(r["distr"], h, w, n_distractors, mask, mask.sum(), _alpha_reach(blur) + 2):
        _, look = _polyp_look(blob, r["distr"], h, w, pad, colour, light)
        albedo = _composite(albedo, look, _alpha(m, blur), rel * contrast)
    t, look = _polyp_look(lesion, r["look"], h, w, pad, colour, light)
    alpha = _alpha(mask, blur)
    albedo = _composite(albedo, look, alpha, contrast)
    illum = _endoscope_light(r["clutter"], h, w, lesion)
    img = albedo * np.clip(illum, 0.0, None)[..., None]
    spec = _specular(r["clutter"], r["look"], h, w, illum, lesion, light, t, contrast)
    img = img + (250.0 - img) * spec
    return _to_uint8(img), mask


def _mucosa(rb: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Background albedo of the colon wall: ``(base, bg)`` with ``base`` the mucosa's RGB
    colour (float32, 3) and ``bg`` float32 H x W x 3: that colour with texture and folds."""
    base = np.array([196, 92, 78], np.float32) + rb.uniform(-14, 14, 3).astype(np.float32)
    base[1:] += rb.uniform(-8, 8)
    low = _smooth_noise(rb, h, w, 3)
    mid = _smooth_noise(rb, h, w, 10)
    fine = _fine_noise(rb, h, w, 0.9)
    tone = 1.0 + 0.07 * low + 0.03 * mid + 0.025 * fine
    fold_f, crest_f = _folds(rb, h, w)
    tone = tone * (1.0 - 0.45 * fold_f) + 0.15 * crest_f
    bg = base[None, None, :] * tone[..., None]
    bg[..., 2] += 4 * mid  # faint hue variation
    return base, bg


def _folds(rb: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Mucosal folds: 2-4 curved bands, each with a lighter crest on one side.

    Returns ``(fold, crest)``, float32 H x W coverage in [0, 1] (blurred), the bands darken
    the wall and the crests lighten it."""
    short = min(h, w)
    fold = np.zeros((h, w), np.uint8)
    crest = np.zeros((h, w), np.uint8)
    for _ in range(int(rb.integers(2, 5))):
        c = (int(rb.uniform(-0.3, 1.3) * w * 16), int(rb.uniform(-0.3, 1.3) * h * 16))
        ax = (int(rb.uniform(0.4, 1.1) * short * 16), int(rb.uniform(0.25, 0.8) * short * 16))
        ang, a0 = rb.uniform(0, 180), rb.uniform(0, 360)
        a1 = a0 + rb.uniform(60, 160)
        th = max(2, int(rb.uniform(0.03, 0.07) * short))
        cv2.ellipse(fold, c, ax, ang, a0, a1, 255, th, cv2.LINE_AA, 4)
        off = (ax[0] + th * 12, ax[1] + th * 12)
        cv2.ellipse(crest, c, off, ang, a0, a1, 255, max(1, th // 2), cv2.LINE_AA, 4)
    fold_f = cv2.GaussianBlur(fold.astype(np.float32) / 255, (0, 0), 0.025 * short + 1)
    crest_f = cv2.GaussianBlur(crest.astype(np.float32) / 255, (0, 0), 0.01 * short + 0.7)
    return fold_f, crest_f


def _polyp_colour_and_light(rl: np.random.Generator, base: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float]]:
    """The polyps' RGB colour (float32, 3), relative to the mucosa ``base`` so that every polyp
    differs from its background (pale, red or yellowish), and the light direction (x, y, z), z
    towards the viewer."""
    gain = ((1.16, 1.24, 1.28), (0.84, 0.66, 0.7), (1.1, 1.36, 1.36))[int(rl.integers(0, 3))]  # pale, red, yellowish
    colour = base * np.asarray(gain, np.float32) * rl.uniform(0.95, 1.05, 3).astype(np.float32)
    la = rl.uniform(0, 2 * np.pi)
    light = (0.55 * math.cos(la), 0.55 * math.sin(la), 0.83)
    return colour, light


def _polyp_look(blob: _Blob, rng: np.random.Generator, h: int, w: int, pad: int, colour: np.ndarray,
                light: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """A polyp's appearance: raised (dome-shaded), textured, with a slightly darker base ring.

    Returns ``(t, look)``: the blob's normalised radius (float32 H x W, computed in its bounding
    box grown by ``pad`` pixels, 4.0 elsewhere: :meth:`_Blob.field`) and the albedo of the
    polyp's surface (float32 H x W x 3), which the caller composites through the blob's matte."""
    t = blob.field(h, w, pad)
    shade = _dome_shading(t, blob.radius, light)
    tex = 1.0 + 0.06 * _smooth_noise(rng, h, w, 14) + 0.025 * _fine_noise(rng, h, w, 0.7)
    rim = np.clip((t - 0.75) / 0.25, 0, 1) * (t <= 1.0)  # slightly darker base ring
    look = colour[None, None, :] * (tex * (0.55 + 0.45 * shade) * (1.0 - 0.08 * rim))[..., None]
    return t, look


def _endoscope_light(rc: np.random.Generator, h: int, w: int, lesion: _Blob) -> np.ndarray:
    """Illumination, float64 H x W: a light cone, a dark lumen beside the polyp (the farthest of
    six candidates) and a vignette to black corners. Not clipped: the cone can fall below 0 far
    from its centre (the caller clips it; the highlights read it as it is)."""
    xx, yy = _grid(h, w)
    short = min(h, w)
    lx, ly = rc.uniform(0.3, 0.7) * w, rc.uniform(0.3, 0.7) * h
    d = np.hypot((xx - lx) / w, (yy - ly) / h)
    illum = 1.12 - 0.55 * d * d / 0.35
    lum_r = rc.uniform(0.08, 0.18) * short
    # the lumen lies beside the polyp, not on it: the farthest of a few candidates
    cand_x, cand_y = rc.uniform(0.1, 0.9, 6) * w, rc.uniform(0.1, 0.9, 6) * h
    best = int(np.argmax(np.hypot(cand_x - lesion.cx, cand_y - lesion.cy)))
    lum_x, lum_y = cand_x[best], cand_y[best]
    lum = np.exp(-((xx - lum_x) ** 2 + (yy - lum_y) ** 2) / (2 * lum_r**2))
    illum = illum * (1.0 - 0.85 * lum) * (1.0 + 0.05 * _smooth_noise(rc, h, w, 2))
    rr = np.hypot((xx - (w - 1) / 2) / (w / 2), (yy - (h - 1) / 2) / (h / 2)) / math.sqrt(2)
    return illum * np.clip((1.0 - rr) / 0.22, 0.0, 1.0) ** 1.5


def _specular(rc: np.random.Generator, rl: np.random.Generator, h: int, w: int, illum: np.ndarray, lesion: _Blob,
              light: tuple[float, float, float], t: np.ndarray, contrast: float) -> np.ndarray:
    """Specular highlights, float32 H x W x 1 in [0, 1]: a few anywhere lit (``illum`` > 0.3,
    from ``rc``) and a few on the polyp's cap towards the light (from ``rl``, inside the polyp
    where ``t`` < 1, scaled by ``contrast`` up to 1)."""
    k = int(rc.integers(3, 9))
    xs, ys = rc.uniform(0, w, k), rc.uniform(0, h, k)
    sp = _spots(h, w, xs, ys, rc.uniform(0.6, 2.2, k), rc.uniform(1, 2.5, k), rc.uniform(0, 180, k))
    sp = sp * (illum > 0.3)
    ks = int(rl.integers(1, 4))
    cap = lesion.radius * 0.45
    hx = lesion.cx + light[0] * cap + rl.uniform(-0.25, 0.25, ks) * lesion.radius
    hy = lesion.cy + light[1] * cap + rl.uniform(-0.25, 0.25, ks) * lesion.radius
    sizes = rl.uniform(0.05, 0.12, ks) * lesion.radius + 0.6
    sl = _spots(h, w, hx, hy, sizes, rl.uniform(1, 2, ks), rl.uniform(0, 180, ks))
    sl = sl * np.clip((1.0 - t) / 0.3, 0.0, 1.0) * np.float32(min(1.0, contrast))
    return np.clip(sp + sl, 0.0, 1.0)[..., None]


def _mri(r, h, w, lesion_size, contrast, blur, n_distractors):
    xx, yy = _grid(h, w)
    rb = r["bg"]
    # --- body: ellipse with a fat rim, darker muscles, tissue texture ----------------------
    bcx, bcy = (w - 1) / 2 + rb.uniform(-0.03, 0.03) * w, (h - 1) / 2 + rb.uniform(-0.03, 0.03) * h
    bax, bay = rb.uniform(0.40, 0.47) * w, rb.uniform(0.37, 0.45) * h
    q = np.hypot((xx - bcx) / bax, (yy - bcy) / bay)
    body = np.clip((1.0 - q) * min(bax, bay) / 1.2, 0.0, 1.0)  # soft 1-2 px edge
    rim = np.clip((q - 0.9) / 0.03, 0.0, 1.0) * body
    tissue = 0.36 + rb.uniform(-0.04, 0.04) + 0.035 * _smooth_noise(rb, h, w, 6) + 0.02 * _fine_noise(rb, h, w, 1.0)
    # muscles: darker ellipses left and right, and a darker one at the back
    sig = np.zeros((h, w), np.uint8)
    for side in (-1, 1):
        c = (int((bcx + side * bax * rb.uniform(0.45, 0.6)) * 16), int((bcy + bay * rb.uniform(-0.1, 0.25)) * 16))
        ax = (int(bax * rb.uniform(0.22, 0.3) * 16), int(bay * rb.uniform(0.35, 0.5) * 16))
        cv2.ellipse(sig, c, ax, rb.uniform(-20, 20), 0, 360, 255, -1, cv2.LINE_AA, 4)
    c = (int(bcx * 16), int((bcy + bay * rb.uniform(0.55, 0.7)) * 16))
    cv2.ellipse(sig, c, (int(bax * 0.35 * 16), int(bay * 0.16 * 16)), 0, 0, 360, 255, -1, cv2.LINE_AA, 4)
    muscle = cv2.GaussianBlur(sig.astype(np.float32) / 255, (0, 0), 1.5)
    tissue = tissue * (1.0 - 0.4 * muscle)
    img0 = 0.03 + body * (tissue + 0.3 * rim)

    # --- lesion: organ-like two-zone blob inside the body ----------------------------------
    inside = (bcx, bcy, 0.82 * bax, 0.82 * bay)  # the lesion keeps clear of the fat rim
    body_space = (bcx, bcy, 0.9 * bax, 0.9 * bay)  # distractors may come closer to it
    frac = r["geom"].uniform(*lesion_size)
    lesion = _draw_blob(r["geom"], h, w, frac * h * w, margin=2.0, region=inside)
    mask = lesion.mask(h, w)
    rl = r["look"]
    sign = 1.0 if rl.random() < 0.6 else -1.0
    level = 0.36 + sign * rl.uniform(0.2, 0.3)
    zone = rl.uniform(-0.12, 0.12)
    pad = _alpha_reach(blur) + 2  # the window of a blob's look covers its blurred matte

    def organ_look(blob, rng):
        t = blob.field(h, w, pad)
        core = np.clip((0.6 - t) / 0.15, 0.0, 1.0)
        return level + zone * core + 0.03 * _smooth_noise(rng, h, w, 12) + 0.02 * _fine_noise(rng, h, w, 0.8)

    sig_img = img0
    gap = _alpha_reach(blur) + 2
    for blob, m, rel in _place_distractors(r["distr"], h, w, n_distractors, mask, mask.sum(), gap, region=body_space):
        sig_img = _composite(sig_img, organ_look(blob, r["distr"]), _alpha(m, blur), rel * contrast)
    sig_img = _composite(sig_img, organ_look(lesion, rl), _alpha(mask, blur), contrast)

    # --- bias field, Rician noise ----------------------------------------------------------
    rc = r["clutter"]
    gx, gy = rc.uniform(-0.2, 0.2, 2)
    bias = 1.0 + 0.12 * _smooth_noise(rc, h, w, 1.5) + gx * (xx / w - 0.5) + gy * (yy / h - 0.5)
    s = np.clip(sig_img, 0.0, None) * bias
    noise = np.float32(rc.uniform(0.02, 0.04))
    n1 = rc.standard_normal((h, w), dtype=np.float32) * noise
    n2 = rc.standard_normal((h, w), dtype=np.float32) * noise
    img = np.sqrt((s + n1) ** 2 + n2**2)
    return _to_uint8(img * 255.0 / 0.9), mask


def _hair(rng, h, w, n) -> np.ndarray:
    """Thin dark curves (quadratic Bezier), float32 coverage H x W in [0, 1]."""
    canvas = np.zeros((h, w), np.uint8)
    s = np.linspace(0, 1, 24)[:, None]
    for _ in range(n):
        p0 = np.array([rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h])
        ang = rng.uniform(0, 2 * np.pi)
        length = rng.uniform(0.3, 0.9) * max(h, w)
        p2 = p0 + length * np.array([math.cos(ang), math.sin(ang)])
        p1 = (p0 + p2) / 2 + rng.uniform(-0.25, 0.25) * length * np.array([-math.sin(ang), math.cos(ang)])
        pts = (1 - s) ** 2 * p0 + 2 * (1 - s) * s * p1 + s**2 * p2
        thick = 1 if rng.random() < 0.8 else 2
        cv2.polylines(canvas, [np.round(pts * 16).astype(np.int32)], False, 255, thick, cv2.LINE_AA, 4)
    return canvas.astype(np.float32) * np.float32(1 / 255)


def _dermoscopy(r, h, w, lesion_size, contrast, blur, n_distractors):
    xx, yy = _grid(h, w)
    rb = r["bg"]
    # --- skin ------------------------------------------------------------------------------
    skin = np.array([226, 172, 148], np.float32) + rb.uniform(-14, 10, 3).astype(np.float32)
    skin += rb.uniform(-20, 12)
    tone = 1.0 + 0.045 * _smooth_noise(rb, h, w, 3) + 0.02 * _smooth_noise(rb, h, w, 16)
    tone += 0.02 * _fine_noise(rb, h, w, 0.7)
    bg = skin[None, None, :] * tone[..., None]
    bg[..., 0] += 6 * _smooth_noise(rb, h, w, 5)  # patchy redness

    # --- lesion: darker brown, variegated, with globules -----------------------------------
    frac = r["geom"].uniform(*lesion_size)
    lesion = _draw_blob(r["geom"], h, w, frac * h * w, margin=2.0)
    mask = lesion.mask(h, w)
    rl = r["look"]
    dark = np.array([88, 52, 38], np.float32) + rl.uniform(-15, 15, 3).astype(np.float32)
    light = np.array([168, 112, 82], np.float32) + rl.uniform(-15, 15, 3).astype(np.float32)
    pad = _alpha_reach(blur) + 2  # the window of a blob's look covers its blurred matte

    def mole_look(blob, rng, globules=True):
        t = blob.field(h, w, pad)
        var = 0.5 + 0.3 * _smooth_noise(rng, h, w, 7) + 0.25 * (1.0 - np.clip(t, 0, 1))  # darker centre
        var = np.clip(var + 0.08 * _fine_noise(rng, h, w, 0.8), 0.0, 1.0)
        look = light[None, None, :] + var[..., None] * (dark - light)[None, None, :]
        if globules:
            k = int(rng.integers(4, 14))
            ang, rad = rng.uniform(0, 2 * np.pi, k), np.sqrt(rng.uniform(0, 0.6, k)) * blob.radius
            dots = _spots(h, w, blob.cx + rad * np.cos(ang), blob.cy + rad * np.sin(ang), rng.uniform(0.6, 1.8, k))
            look = look * (1.0 - 0.45 * dots)[..., None]
        return look

    albedo = bg
    for blob, m, rel in _place_distractors(r["distr"], h, w, n_distractors, mask, mask.sum(), _alpha_reach(blur) + 2):
        albedo = _composite(albedo, mole_look(blob, r["distr"], globules=False), _alpha(m, blur), rel * contrast)
    albedo = _composite(albedo, mole_look(lesion, rl), _alpha(mask, blur), contrast)

    # --- hair, dermoscope vignette ---------------------------------------------------------
    rc = r["clutter"]
    hair = _hair(rc, h, w, int(rc.integers(0, 7)))
    hair_colour = np.array([52, 36, 30], np.float32) + rc.uniform(-10, 10)
    img = albedo + hair[..., None] * (hair_colour - albedo) * np.float32(0.9)
    rr = np.hypot((xx - (w - 1) / 2) / (w / 2), (yy - (h - 1) / 2) / (h / 2))
    vig = 1.0 - rc.uniform(0.1, 0.3) * np.clip(rr - 0.7, 0.0, None) ** 2 / 0.5
    return _to_uint8(img * vig[..., None]), mask


_FLAVOUR_FUNCS = {"endoscopy": _endoscopy, "mri": _mri, "dermoscopy": _dermoscopy}
_STREAMS = ("geom", "bg", "look", "distr", "clutter")


def generate_sample(
    index: int,
    seed: int = 0,
    flavour: str = "endoscopy",
    size: tuple[int, int] = (160, 192),
    contrast: float = 1.0,
    boundary_blur: float = 2.0,
    lesion_size: tuple[float, float] = (0.05, 0.25),
    distractors: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic image with exactly one lesion, and the lesion's mask.

    Args:
        index: image number (>= 0); with ``seed`` it fixes everything drawn.
        seed: dataset seed (>= 0). Randomness comes from ``np.random.default_rng([seed, index])``.
        flavour: ``endoscopy``, ``mri`` or ``dermoscopy`` (see the module docstring).
        size: (height, width), both >= 32.
        contrast: lesion-vs-background appearance scale (>= 0; 0 = invisible lesion).
        boundary_blur: Gaussian sigma in pixels of the lesion's alpha matte (>= 0; 0 = sharp).
        lesion_size: (min, max) lesion area fraction, ``0 < min <= max < 0.8``.
        distractors: number (>= 0) of lower-contrast lesion-like blobs outside the mask.

    Returns:
        ``(image, mask)``: image uint8 H x W x 3 RGB (``endoscopy``, ``dermoscopy``) or uint8
        H x W (``mri``); mask bool H x W, one 8-connected component.

    Raises:
        ValueError: an argument is out of range; the message names it and its value.
    """
    index = _int_arg(index, "index", 0)
    seed = _int_arg(seed, "seed", 0)
    flavour, (h, w), contrast, boundary_blur, lesion_size, distractors = _check_args(
        flavour, size, contrast, boundary_blur, lesion_size, distractors
    )
    rng = np.random.default_rng([seed, index])
    # one independent stream per part, so a knob changes only what it is about
    children = rng.bit_generator.seed_seq.spawn(len(_STREAMS))
    streams = {name: np.random.default_rng(child) for name, child in zip(_STREAMS, children)}
    return _FLAVOUR_FUNCS[flavour](streams, h, w, lesion_size, contrast, boundary_blur, distractors)


# ----------------------------------------------------------------------------------------------
# Dataset
# ----------------------------------------------------------------------------------------------
def _split_counts(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    n_val, n_test = int(round(n * val_fraction)), int(round(n * test_fraction))
    if n >= 3:
        n_val = max(1, n_val) if val_fraction > 0 else 0
        n_test = max(1, n_test) if test_fraction > 0 else 0
    while n_val + n_test > n - 1 and (n_val or n_test):  # keep at least one training image
        if n_val >= n_test:
            n_val -= 1
        else:
            n_test -= 1
    return n_val, n_test


#: The flavours borrow the preset of the modality they imitate (docs/method.md §1.2, §1.4); their gaze is
#: simulated from the ground-truth mask by design (docs/design.md §4.3). ``synthetic`` is the
#: endoscopy flavour under the dataset's own name.
PRESETS = (
    DatasetPreset("synthetic", "endoscopy", 3, 70 / 768, 0.5, 0.3, gaze="simulated"),
    DatasetPreset("synthetic-endoscopy", "endoscopy", 3, 70 / 768, 0.5, 0.3, gaze="simulated"),
    DatasetPreset("synthetic-mri", "mri", 1, 50 / 768, 0.4, 0.2, gaze="simulated"),
    DatasetPreset("synthetic-dermoscopy", "dermoscopy", 3, 70 / 768, 0.5, 0.3, gaze="simulated"),
)


@register_dataset("synthetic", presets=PRESETS)
class SyntheticDataset(SegmentationDataset):
    """Generated images (:func:`generate_sample`) with exact masks and simulated gaze.

    Args:
        n_images: number of images (>= 1).
        size: (height, width) of every image.
        seed: dataset seed; image ``i`` is ``generate_sample(i, seed, ...)``.
        flavour, contrast, boundary_blur, lesion_size, distractors: as in
            :func:`generate_sample`.
        val_fraction, test_fraction: shares of the ``val`` and ``test`` splits (each >= 0,
            together < 1); with 3 or more images each non-zero share gets at least one image.

    Ids are ``syn-<flavour>-0000`` ...; splits ``train``, ``val``, ``test`` and ``all`` are a
    deterministic shuffle by ``seed``. Images are made on first access and cached.

    Example:
        >>> ds = SyntheticDataset(n_images=5, size=(64, 80), flavour="mri")
        >>> ds.ids[0], ds.image(ds.ids[0]).shape, len(ds.split("val"))
        ('syn-mri-0000', (64, 80), 1)
    """

    name = "synthetic"

    def __init__(
        self,
        n_images: int = 24,
        size: tuple[int, int] = (160, 192),
        seed: int = 0,
        flavour: str = "endoscopy",
        contrast: float = 1.0,
        boundary_blur: float = 2.0,
        lesion_size: tuple[float, float] = (0.05, 0.25),
        distractors: int = 2,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
    ):
        n_images = _int_arg(n_images, "n_images", 1)
        self.seed = _int_arg(seed, "seed", 0)
        self.flavour, self.size, self.contrast, self.boundary_blur, self.lesion_size, self.distractors = _check_args(
            flavour, size, contrast, boundary_blur, lesion_size, distractors
        )
        vf, tf = _float_arg(val_fraction, "val_fraction"), _float_arg(test_fraction, "test_fraction")
        if vf + tf >= 1.0:
            raise ValueError(f"val_fraction + test_fraction must be < 1, got {val_fraction!r} + {test_fraction!r}")
        self.preset = get_preset(f"synthetic-{self.flavour}")
        self.ids = [f"syn-{self.flavour}-{i:04d}" for i in range(n_images)]
        self._index = {image_id: i for i, image_id in enumerate(self.ids)}
        n_val, n_test = _split_counts(n_images, vf, tf)
        order = np.random.default_rng([self.seed, 1_000_003]).permutation(n_images)
        val, test, train = order[:n_val], order[n_val : n_val + n_test], order[n_val + n_test :]
        self.splits = {
            "train": [self.ids[i] for i in sorted(train)],
            "val": [self.ids[i] for i in sorted(val)],
            "test": [self.ids[i] for i in sorted(test)],
            "all": list(self.ids),
        }
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _sample(self, image_id: str) -> tuple[np.ndarray, np.ndarray]:
        self.check_id(image_id)
        if image_id not in self._cache:
            self._cache[image_id] = generate_sample(
                self._index[image_id],
                seed=self.seed,
                flavour=self.flavour,
                size=self.size,
                contrast=self.contrast,
                boundary_blur=self.boundary_blur,
                lesion_size=self.lesion_size,
                distractors=self.distractors,
            )
        return self._cache[image_id]

    def image(self, image_id: str) -> np.ndarray:
        """uint8 H x W x 3 RGB (H x W for ``mri``); a copy, so the cache stays intact."""
        return self._sample(image_id)[0].copy()

    def mask(self, image_id: str) -> np.ndarray:
        """bool H x W ground truth (a copy)."""
        return self._sample(image_id)[1].copy()

    def gaze_csv(self, work_dir: str | Path | None = None) -> Path:
        """Simulate fixations for every image from its mask and write them as a GazeMedSeg CSV.

        Image ``i`` uses ``fgi_core.gaze.simulate.simulate(mask, np.random.default_rng([seed,
        i, 7]))``; the file is ``<work_dir>/fixations_simulated.csv`` with ``IMAGE`` values
        ``<id>.png``.

        Raises:
            ValueError: ``work_dir`` not given (simulated gaze has to be written somewhere).
        """
        if work_dir is None:
            raise ValueError(
                "SyntheticDataset.gaze_csv needs work_dir: its gaze is simulated from the masks "
                "and written to <work_dir>/fixations_simulated.csv"
            )
        from ..gaze.fixations import fixations_to_frame, write_fixations
        from ..gaze.simulate import simulate

        h, w = self.size
        records = {
            f"{image_id}.png": (simulate(self._sample(image_id)[1], np.random.default_rng([self.seed, i, 7])), (h, w))
            for i, image_id in enumerate(self.ids)
        }
        out = Path(work_dir)
        out.mkdir(parents=True, exist_ok=True)
        return write_fixations(fixations_to_frame(records), out / "fixations_simulated.csv")
