"""Pixels: layers blended into one picture, outlines, stretched maps, overlays on an Axes.

:func:`compose` returns the blended picture as a uint8 array (what the inspector shows, exact
and testable); :func:`overlay` draws an image with a soft map or a mask on top on a given Axes
(what the notebooks' figures use). Colours come from :data:`fgi_core.plots.colours.COLOURS`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .colours import COLOURS, HEAT_CMAP

__all__ = ["GREY", "outline", "compose", "stretch", "overlay"]

#: Background grey level (uint8) when the image layer is off.
GREY = 128


def outline(mask: np.ndarray) -> np.ndarray:
    """The boundary pixels of an H x W mask (bool H x W): in the mask, with a 4-neighbour outside
    it (or the border).

    Example:
        >>> m = np.zeros((5, 5), bool); m[1:4, 1:4] = True
        >>> outline(m).astype(int)[2]
        array([0, 1, 0, 1, 0])
    """
    m = np.asarray(mask, bool)
    padded = np.pad(m, 1, constant_values=False)
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return m & ~inner


def _rgb_float(image: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """float H x W x 3 (0..255) of a uint8 H x W x 3 or H x W image; :data:`GREY` when None."""
    if image is None:
        return np.full((*shape, 3), float(GREY))
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.shape[:2] != tuple(shape) or a.shape[2] != 3:
        raise ValueError(f"image must be {shape[0]} x {shape[1]} (x 3); got shape {np.asarray(image).shape}")
    return a.astype(np.float64)


def compose(
    image: np.ndarray | None,
    heat: Sequence[tuple[np.ndarray, float]] = (),
    fills: Sequence[tuple[np.ndarray, tuple[float, float, float], float]] = (),
    outlines: Sequence[tuple[np.ndarray, tuple[float, float, float]]] = (),
    shape: tuple[int, int] | None = None,
    cmap: str = HEAT_CMAP,
) -> np.ndarray:
    """Blend layers onto an image; uint8 H x W x 3.

    In order: each soft map ``(m, alpha)`` of ``heat`` (H x W, values in [0, 1], coloured with
    ``cmap``) is blended with per-pixel opacity ``alpha * m`` (so where m = 0 the image is
    untouched); each ``(mask, rgb, alpha)`` of ``fills`` (mask H x W) is blended with opacity
    ``alpha`` inside the mask; each ``(mask, rgb)`` of ``outlines`` paints the mask's
    :func:`outline` pixels in ``rgb``. Colours are RGB in [0, 1]. Values are rounded to the
    nearest integer.

    Args:
        image: uint8 H x W x 3 (or H x W grey); None = mid grey (:data:`GREY`) of ``shape``.
        shape: H x W when ``image`` is None (else taken from the image).

    Raises:
        ValueError: a layer of another size (both sizes named), neither image nor shape.

    Example:
        >>> img = np.full((2, 2, 3), 100, np.uint8)
        >>> m = np.array([[1, 0], [0, 0]], bool)
        >>> compose(img, fills=[(m, (1.0, 0.0, 0.0), 0.5)])[0, 0].tolist()  # 0.5*100 + 0.5*255
        [178, 50, 50]
    """
    import matplotlib.pyplot as plt

    if image is None and shape is None:
        raise ValueError("compose needs an image or a shape")
    hw = tuple(np.asarray(image).shape[:2]) if image is not None else tuple(shape)
    out = _rgb_float(image, hw)

    def check(a, what):
        a = np.asarray(a)
        if a.shape != hw:
            raise ValueError(f"{what} has shape {a.shape}; the image is {hw}")
        return a

    colormap = plt.get_cmap(cmap)
    for m, alpha in heat:
        m = np.clip(check(m, "heat map").astype(np.float64), 0.0, 1.0)
        colour = colormap(m)[..., :3] * 255.0
        a = (float(alpha) * m)[..., None]
        out = (1.0 - a) * out + a * colour
    for mask, rgb, alpha in fills:
        m = check(mask, "fill mask").astype(bool)
        out[m] = (1.0 - float(alpha)) * out[m] + float(alpha) * np.asarray(rgb, np.float64) * 255.0
    for mask, rgb in outlines:
        m = outline(check(mask, "outline mask"))
        out[m] = np.asarray(rgb, np.float64) * 255.0
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def stretch(m: np.ndarray) -> np.ndarray:
    """Min-max scale a map (any shape) to [0, 1] for display, float64 of the same shape (a constant
    map becomes 0).

    Example:
        >>> stretch(np.array([2.0, 3.0, 4.0])).tolist()
        [0.0, 0.5, 1.0]
    """
    m = np.asarray(m, np.float64)
    lo, hi = float(m.min()), float(m.max())
    return (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)


def overlay(ax, image: np.ndarray, layer: np.ndarray, kind: str = "heat", colour=COLOURS["prediction"], alpha: float = 0.45,
            contour: np.ndarray | None = None) -> None:
    """Draw on ``ax`` an image with a soft map (``kind="heat"``) or a binary mask (``kind="mask"``) on top.

    Args:
        image: uint8 H x W x 3 (or H x W, shown in grey).
        layer: H x W; a soft map in [0, 1] (coloured with :data:`HEAT_CMAP`) or a mask (non-zero = in).
        colour: RGB in [0, 1] of the mask.
        contour: an optional bool H x W mask (e.g. ground truth) drawn as an outline in ``COLOURS["gt"]``.
    """
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
    if kind == "heat":
        ax.imshow(layer, cmap=HEAT_CMAP, alpha=alpha, vmin=0, vmax=1)
    else:  # a light fill and a full-colour outline: the region reads on any image
        inside = np.asarray(layer) > 0
        rgba = np.zeros((*np.shape(layer), 4))
        rgba[..., :3] = colour
        rgba[..., 3] = 0.5 * alpha * inside
        rgba[outline(inside), 3] = 1.0
        ax.imshow(rgba, interpolation="nearest")
    if contour is not None and np.asarray(contour).any():
        ax.contour(np.asarray(contour, float), levels=[0.5], colors=[COLOURS["gt"]], linewidths=1.2)
    ax.set_axis_off()
