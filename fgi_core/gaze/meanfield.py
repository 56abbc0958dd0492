"""A numpy/scipy dense CRF: the ``pydensecrf`` refinement without ``pydensecrf``.

:func:`dense_crf_numpy` runs the same model as ``refine(..., method="crf")``: two labels, unary
``-log(clip([1 - h, h], clip))``, one bilateral Potts term over the 5-D features
``(x/sxy, y/sxy, r/srgb, g/srgb, b/srgb)`` with symmetric normalisation, ``iterations``
mean-field steps, and the soft foreground marginal ``Q[1]`` returned.

How the bilateral message is computed
-------------------------------------
``pydensecrf`` (Kraehenbuehl's densecrf 2.2) does not evaluate the Gaussian exactly: it filters
on a *permutohedral lattice* (Adams, Baek & Davis, Eurographics 2010), whose kernel is only
roughly Gaussian (it is piecewise linear in the features and not shift invariant). Any other
approximation of the Gaussian (a bilateral grid, a downsampled exact sum) would differ from the
reference by that lattice's own error. So this module ports the reference's lattice to
vectorised numpy, step for step; the two agree to float rounding (mean |difference| of the
refined maps ~1e-8 on real Kvasir-SEG images).

1. *Lattice coordinates.* Each pixel's feature is scaled and elevated onto the plane
   ``sum = 0`` of R^(d+1); the enclosing simplex is found by rounding to the nearest
   remainder-0 lattice point and ranking the residuals; barycentric weights are read off the
   ranked residuals. Float32 arithmetic in the reference's order of operations (rounding half
   to even, as its SSE code does), so every pixel lands in the same simplex with the same
   weights.
2. *Vertices.* A simplex is identified by its remainder-0 corner and its rank permutation. Many
   pixels share a simplex (~8 on average on Kvasir-SEG), so the d + 1 vertex keys are made
   once per distinct simplex and made unique with hash-based ``pandas.factorize`` on int64
   codes of the keys: ``M`` lattice points (~1.3 x 10^4 for a 528 x 622 endoscopy image).
   The reference's SSE build (x86-64) embeds pixels four at a time and pads the last block
   with all-zero features, whose vertices join the lattice; that is reproduced too
   (``sse_padding``), as it changes results when N is not a multiple of 4 and no pixel lies
   near the feature origin.
3. *Operators.* Splatting and slicing are one sparse N x M matrix (d + 1 non-zeros per pixel)
   and its transpose; the blur is ``d + 1`` passes of ``v + (v[n1] + v[n2]) / 2`` along the
   lattice's axes (a missing neighbour counts as 0); the result is scaled by the reference's
   constant ``alpha = 1 / (1 + 2^-d)``. The self term is kept, as in the reference.
4. *Mean field.* ``norm = 1 / sqrt(K 1)`` (NORMALIZE_SYMMETRIC); each step computes
   ``m_l = norm * K(norm * Q_l)`` and ``Q = softmax(-U + compat * m)`` (Potts). With two labels
   only the logit difference matters and ``K(norm Q_0) = K(norm) - K(norm Q_1)`` by linearity,
   so one filtering per step suffices.

Cost on one core: ~0.08 s setup plus ~5 ms per iteration, 0.10-0.13 s in all for a 528 x 622
image (``pydensecrf`` itself: ~0.47 s); memory O(N), a few arrays of (d + 1) x N at a time.

Example:
    >>> import numpy as np
    >>> img = np.zeros((40, 60, 3), np.uint8); img[:, 30:] = 200
    >>> h = np.tile(np.linspace(0.2, 0.8, 60, dtype=np.float32), (40, 1))
    >>> q = dense_crf_numpy(img, h)
    >>> q.shape, q.dtype, bool(q[:, :30].max() < 0.5 < q[:, 30:].min())
    ((40, 60), dtype('float32'), True)
"""
from __future__ import annotations

from numbers import Integral, Real
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import expit

__all__ = ["dense_crf_numpy", "bilateral_features", "PermutohedralLattice", "GRID_OPTIONS"]

#: Options accepted as ``**grid_options`` by :func:`dense_crf_numpy`, with their defaults.
#: ``dtype``: float type of the splat/blur/slice and mean-field arithmetic: "float32" (as the
#: reference) or "float64". ``sse_padding``: mimic the lattice vertices that pydensecrf's SSE
#: (x86-64) build adds when the pixel count is not a multiple of 4 (see
#: :class:`PermutohedralLattice`); False matches a build without SSE (e.g. ARM).
GRID_OPTIONS: dict[str, Any] = {"dtype": "float32", "sse_padding": True}

# Largest |elevated coordinate| the reference can represent (its lattice keys are C shorts).
_KEY_LIMIT = 32000
# Rows of integers are packed into one int64 when their ranges need at most this many bits;
# otherwise they are hashed (and every match verified). Tests lower it to exercise hashing.
_PACK_BITS = 62


class _RowIndex:
    """Exact index of integer rows, given as c columns of equal length.

    Each row becomes one int64 code: mixed-radix packing when the column ranges fit in
    ``_PACK_BITS`` bits (exact), else a 64-bit hash whose matches are checked against the rows.
    ``inverse`` maps every input row to its unique row; ``rows`` holds the unique rows.
    """

    def __init__(self, columns: Sequence[np.ndarray]) -> None:
        cols = [np.asarray(c, dtype=np.int64) for c in columns]
        self.lo = np.array([c.min() for c in cols], dtype=np.int64)
        self.hi = np.array([c.max() for c in cols], dtype=np.int64)
        self.spans = [int(h) - int(l) + 1 for l, h in zip(self.lo, self.hi)]
        self.exact = float(np.prod([float(s) for s in self.spans])) < 2.0**_PACK_BITS
        inverse, uniq = pd.factorize(self._codes(cols), sort=False)
        rep = np.empty(len(uniq), dtype=np.int64)
        rep[inverse] = np.arange(len(inverse))  # any member represents its row
        self.rows = [c[rep] for c in cols]
        if not self.exact and not all(np.array_equal(r[inverse], c) for r, c in zip(self.rows, cols)):
            raise RuntimeError("lattice key hash collision; please report this input")  # pragma: no cover
        self.inverse = inverse.astype(np.int64)
        self.size = len(uniq)
        self._index = pd.Index(np.asarray(uniq))

    def _codes(self, cols: Sequence[np.ndarray]) -> np.ndarray:
        if self.exact:
            code = np.zeros(len(cols[0]), dtype=np.int64)
            for c, lo, span in zip(cols, self.lo, self.spans):
                code *= span
                code += c
                code -= lo
            return code
        h = np.full(len(cols[0]), 0x9E3779B97F4A7C15, dtype=np.uint64)  # splitmix64-style mixing
        for c, lo in zip(cols, self.lo):
            h ^= (c - lo).astype(np.uint64)
            h *= np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(31)
        return h.view(np.int64)

    def find(self, columns: Sequence[np.ndarray]) -> np.ndarray:
        """Index of each queried row among the unique rows, -1 where absent."""
        cols = [np.asarray(c, dtype=np.int64) for c in columns]
        inside = np.ones(len(cols[0]), dtype=bool)
        for c, lo, hi in zip(cols, self.lo, self.hi):
            inside &= (c >= lo) & (c <= hi)
        cols = [np.where(inside, c, lo) for c, lo in zip(cols, self.lo)]
        idx = self._index.get_indexer(self._codes(cols)).astype(np.int64)
        idx[~inside] = -1
        if not self.exact:
            hit = idx >= 0
            same = np.ones(int(hit.sum()), dtype=bool)
            for r, c in zip(self.rows, cols):
                same &= r[idx[hit]] == c[hit]
            idx[np.flatnonzero(hit)[~same]] = -1
        return idx


# ----------------------------------------------------------------------------------------------
# Lattice coordinates and vertices (steps 1 and 2 of the module docstring). Float32 arithmetic
# in the reference's order of operations; arrays are coordinate-major ((d+1) x N) so every step
# is a contiguous vector operation.
# ----------------------------------------------------------------------------------------------
def _elevate(f: np.ndarray) -> np.ndarray:
    """The points on the plane ``sum = 0`` of R^(d+1), scaled as the reference scales them:
    ``y = E p`` (Adams et al. 2010, p. 5). ``f``: N x d float32; returns (d+1) x N float32.

    Raises:
        ValueError: a coordinate beyond what the reference's 16-bit lattice keys can hold.
    """
    n, d = f.shape
    d1 = d + 1
    f32 = np.float32
    ft = np.ascontiguousarray(f.T)  # d x N
    inv_std_dev = f32(np.sqrt(2.0 / 3.0) * d1)
    scale = np.array([1.0 / np.sqrt((i + 2) * (i + 1)) * float(inv_std_dev) for i in range(d)], dtype=np.float32)
    elevated = np.empty((d1, n), dtype=np.float32)
    sm = np.zeros(n, dtype=np.float32)
    for j in range(d, 0, -1):
        cf = ft[j - 1] * scale[j - 1]
        np.subtract(sm, f32(j) * cf, out=elevated[j])
        sm += cf
    elevated[0] = sm
    peak = float(np.abs(elevated).max())
    if peak > _KEY_LIMIT:
        raise ValueError(
            f"features too large for the lattice (elevated coordinate {peak:.0f} > {_KEY_LIMIT}; "
            "pydensecrf's 16-bit keys would overflow): use larger standard deviations (sxy, srgb)"
        )
    return elevated


def _enclosing_simplex(elevated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The simplex around each elevated point (``elevated``: (d+1) x N float32).

    Returns ``(rem0, rank)``, both (d+1) x N: the simplex's remainder-0 corner (float32, exact
    multiples of d+1) and the rank of each coordinate's residual (int16, 0 = largest; among
    equal residuals the earlier coordinate first), both brought back onto the plane.
    """
    d1, n = elevated.shape
    d = d1 - 1
    f32 = np.float32
    # Closest remainder-0 point: round each coordinate / (d+1), half to even (SSE rounding).
    v = np.rint(elevated * f32(1.0 / d1))
    total = v.sum(axis=0).astype(np.int16)  # small integers, exact in float32
    rem0 = v * f32(d1)
    del v
    # Rank of each residual (0 = largest; among equal residuals the earlier coordinate first).
    resid = elevated - rem0
    rank = np.zeros((d1, n), dtype=np.int16)
    for i in range(d):
        for j in range(i + 1, d1):
            c = resid[i] < resid[j]
            rank[i] += c
            rank[j] += ~c
    del resid, c
    # Bring the point back onto the plane (the remainder-0 coordinates must sum to 0).
    rank += total
    wrap = (rank < 0).astype(np.int16)
    wrap -= rank >= d1
    rank += wrap * np.int16(d1)
    rem0 += wrap * f32(d1)
    return rem0, rank


def _barycentric(val: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Barycentric weights (Adams et al. 2010, p. 10), (d+1) x N float32, from ``val``, each
    coordinate's residual to the remainder-0 corner / (d+1) ((d+1) x N float32), and ``rank``
    ((d+1) x N int16): with w_p the value at position p = d - rank, bary_p = w_p - w_(p-1) and
    bary_0 = w_0 + (1 - w_d)."""
    d1, n = val.shape
    d = d1 - 1
    flat_pos = (d - rank).astype(np.int64 if d1 * n >= 2**31 else np.int32) * n
    flat_pos += np.arange(n, dtype=flat_pos.dtype)
    w = np.empty((d1, n), dtype=np.float32)
    w.ravel()[flat_pos.ravel()] = val.ravel()
    del flat_pos
    weights = np.empty((d1, n), dtype=np.float32)
    np.subtract(w[1:], w[:-1], out=weights[1:])
    np.add(w[0], np.float32(1.0) - w[d], out=weights[0])
    return weights


def _simplex_vertices(corner: np.ndarray, rank: np.ndarray) -> tuple[np.ndarray, _RowIndex]:
    """The lattice points, made once per distinct simplex.

    Args:
        corner: d x N int64, the first d coordinates of each point's remainder-0 corner / (d+1).
        rank: (d+1) x N int16, the residual ranks of :func:`_enclosing_simplex`.

    Returns:
        ``(offsets, vertices)``: N x (d+1) int32 indices of each point's simplex vertices among
        ``vertices`` (M unique d-coordinate keys).
    """
    d, n = corner.shape
    d1 = d + 1
    # Distinct simplices: remainder-0 corner and rank permutation (first d coordinates).
    rank_code = np.zeros(n, dtype=np.int64)
    for i in range(d):
        rank_code *= d1
        rank_code += rank[i]
    simplices = _RowIndex(list(corner) + [rank_code])
    del rank_code
    first = np.empty(simplices.size, dtype=np.int64)
    first[simplices.inverse] = np.arange(n)
    s_corner = np.stack(simplices.rows[:d]) * d1  # d x S
    s_rank = rank[:d, first].astype(np.int64)  # d x S
    # Vertex r of a simplex: corner + canonical[r, rank], canonical[r, j] = r if j <= d - r else r - d - 1.
    r = np.arange(d1)[:, None]
    canonical = np.where(np.arange(d1)[None, :] <= d - r, r, r - d1)  # [r, rank]
    vkeys = (s_corner[:, :, None] + canonical.T[s_rank]).reshape(d, -1)  # d x (S * (d+1))
    vertices = _RowIndex(list(vkeys))
    offsets = vertices.inverse.astype(np.int32).reshape(-1, d1)[simplices.inverse]  # N x (d+1)
    return offsets, vertices


class PermutohedralLattice:
    """Gaussian-like filtering of values attached to points in R^d, exactly as ``pydensecrf``.

    ``lattice.filter(v)`` approximates ``sum_j exp(-|f_i - f_j|^2 / 2) v_j`` for every point i
    (self term included) up to a constant scale, the way densecrf 2.2's ``Permutohedral`` does
    (same simplices, weights, blur and ``alpha``); see the module docstring.

    Args:
        features: N x d float array (d >= 1), already divided by the kernel's standard
            deviations; used in float32 like the reference. The transpose of a contiguous
            d x N array (as :func:`bilateral_features` returns) is used without a copy.
        dtype: float type of the splat/blur/slice arithmetic ("float32" as the reference).
        sse_padding: also insert the vertices of the all-zero feature when N is not a multiple
            of 4, as the reference's SSE (x86-64) build does; False matches a build without SSE.
            It matters only for points whose features are near the origin (dark pixels near
            the top-left corner), and not at all when some point's features are all zero
            (e.g. a black top-left pixel, as in most Kvasir-SEG frames).

    Raises:
        ValueError: features not a finite non-empty 2-D array, or so large (|f| of order 10^4)
            that the reference's 16-bit lattice keys would overflow.
    """

    def __init__(self, features: np.ndarray, dtype: Any = np.float32, sse_padding: bool = True) -> None:
        f = np.asarray(features, dtype=np.float32)
        if f.ndim != 2 or f.shape[0] == 0 or f.shape[1] == 0:
            raise ValueError(f"features must be a non-empty N x d array, got shape {f.shape}")
        if not np.isfinite(f).all():
            raise ValueError("features contain NaN or infinite values")
        self.n, self.d = f.shape
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        pad = (-self.n) % 4 if sse_padding else 0
        if pad:
            # The reference's SSE build embeds points 4 at a time and pads the last block with
            # all-zero features; their simplex's vertices join the lattice (they hold no values
            # but relay the blur), so the same is done here.
            f = np.concatenate([f, np.zeros((pad, self.d), dtype=np.float32)]).T.copy().T
        offsets, weights, vertices = self._simplices(f)
        offsets, weights = offsets[: self.n], weights[: self.n]
        self.m = vertices.size
        self.neighbours = self._neighbours(vertices)
        n, d1 = self.n, self.d + 1
        # Slice operator: N x M, row i holds point i's d + 1 barycentric weights.
        self.slice_op = sparse.csr_matrix(
            (weights.astype(self.dtype).ravel(), offsets.ravel(), np.arange(0, n * d1 + 1, d1, dtype=np.int64)),
            shape=(n, self.m),
        )
        self.splat_op = self.slice_op.T  # M x N, a CSC view (no copy)
        self.alpha = self.dtype.type(np.float32(1.0) / (np.float32(1.0) + np.float32(2.0) ** np.float32(-self.d)))

    def _simplices(self, f: np.ndarray) -> tuple[np.ndarray, np.ndarray, _RowIndex]:
        """Per point: vertex indices (N x d+1, int32), barycentric weights (N x d+1), the vertices.

        Steps 1 and 2 of the module docstring; each intermediate (d+1) x N array is dropped as
        soon as the next step has what it needs (memory stays a few such arrays).
        """
        d = f.shape[1]
        d1 = d + 1
        f32 = np.float32
        elevated = _elevate(f)
        rem0, rank = _enclosing_simplex(elevated)
        val = (elevated - rem0) * f32(1.0 / d1)
        del elevated
        weights = _barycentric(val, rank)
        del val
        corner = np.rint(rem0[:d] * f32(1.0 / d1)).astype(np.int64)  # exact small integers
        del rem0
        offsets, vertices = _simplex_vertices(corner, rank)
        return offsets, weights.T, vertices

    def _neighbours(self, vertices: _RowIndex) -> np.ndarray:
        """(d+1) x 2 x M indices of each vertex's two neighbours along each lattice axis (M: none)."""
        d = self.d
        keys = vertices.rows
        nb = np.empty((d + 1, 2, self.m), dtype=np.int64)
        for j in range(d + 1):
            n1 = [k - 1 for k in keys]
            n2 = [k + 1 for k in keys]
            if j < d:
                n1[j] = keys[j] + d
                n2[j] = keys[j] - d
            for s, nk in enumerate((n1, n2)):
                idx = vertices.find(nk)
                idx[idx < 0] = self.m  # points at a zero appended to the values
                nb[j, s] = idx
        return nb

    def blur(self, values: np.ndarray) -> np.ndarray:
        """The lattice blur: ``d + 1`` passes of ``v + (v[n1] + v[n2]) / 2`` (on a copy)."""
        half = self.dtype.type(0.5)
        v = np.zeros(self.m + 1, dtype=self.dtype)
        v[: self.m] = values
        for j in range(self.d + 1):
            n1, n2 = self.neighbours[j]
            v[: self.m] += half * (v[n1] + v[n2])  # right side is evaluated before the update
        return v[: self.m]

    def filter(self, x: np.ndarray) -> np.ndarray:
        """Splat ``x`` (length N), blur, slice, times ``alpha``: the reference's ``compute``."""
        x = np.asarray(x, dtype=self.dtype)
        if x.shape != (self.n,):
            raise ValueError(f"values must have shape ({self.n},), got {x.shape}")
        grid = self.splat_op @ x
        out = self.slice_op @ self.blur(grid)
        out *= self.alpha
        return out


def bilateral_features(image_rgb_uint8: np.ndarray, sxy: float, srgb: float) -> np.ndarray:
    """The reference's features ``(x/sxy, y/sxy, r/srgb, g/srgb, b/srgb)`` per pixel, float32.

    Returns an N x 5 array (pixels in row-major order, x along the width) that is the transpose
    of a contiguous 5 x N array, which :class:`PermutohedralLattice` uses without a copy.
    """
    h, w = image_rgb_uint8.shape[:2]
    f = np.empty((5, h, w), dtype=np.float32)
    sxy32, srgb32 = np.float32(sxy), np.float32(srgb)
    f[0] = (np.arange(w, dtype=np.float32) / sxy32)[None, :]
    f[1] = (np.arange(h, dtype=np.float32) / sxy32)[:, None]
    np.divide(np.moveaxis(image_rgb_uint8, 2, 0), srgb32, out=f[2:], dtype=np.float32)
    return f.reshape(5, h * w).T


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _check_inputs(image: np.ndarray, heat: np.ndarray, compat: Any, iterations: Any, clip: Any) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 H x W x 3 RGB, got {image.dtype} {image.shape}")
    if heat.shape != image.shape[:2]:
        raise ValueError(f"heatmap shape {heat.shape} does not match image shape {image.shape[:2]}")
    if heat.size == 0:
        raise ValueError(f"image is empty: shape {image.shape}")
    if not np.isfinite(heat).all() or heat.min() < 0 or heat.max() > 1:
        raise ValueError(f"heatmap values must be finite and in [0, 1], got [{heat.min()}, {heat.max()}]")
    if isinstance(compat, bool) or not isinstance(compat, Real) or not np.isfinite(compat):
        raise ValueError(f"compat must be a finite number, got {compat!r}")
    if isinstance(iterations, bool) or not isinstance(iterations, Integral) or iterations < 0:
        raise ValueError(f"iterations must be a non-negative integer, got {iterations!r}")
    if isinstance(clip, bool) or not isinstance(clip, Real) or not 0 < clip < 0.5:
        raise ValueError(f"clip must be a number in (0, 0.5), got {clip!r}")


def _grid_settings(grid_options: dict[str, Any]) -> tuple[np.dtype, bool]:
    """``(dtype, sse_padding)`` of the lattice from :data:`GRID_OPTIONS` and the given overrides.

    Raises:
        ValueError: an unknown option, a dtype other than float32 / float64, a non-bool padding.
    """
    from ..registry import look_up_option

    for key in grid_options:
        look_up_option(key, GRID_OPTIONS, "grid option of dense_crf_numpy")
    options = {**GRID_OPTIONS, **grid_options}
    dtype_name = options["dtype"]
    if not isinstance(dtype_name, str):
        try:
            dtype_name = np.dtype(dtype_name).name
        except TypeError:
            dtype_name = repr(dtype_name)
    dtype = np.dtype(look_up_option(dtype_name, ("float32", "float64"), "dtype (grid option)"))
    if not isinstance(options["sse_padding"], (bool, np.bool_)):
        raise ValueError(f"sse_padding (grid option) must be True or False, got {options['sse_padding']!r}")
    return dtype, bool(options["sse_padding"])


def _unary_logit(heat: np.ndarray, clip: float, dtype: np.dtype) -> np.ndarray:
    """The logit of Q1 from the unary alone, (H * W,) in ``dtype``, for a float32 H x W heatmap.

    The unary is pydensecrf.utils.unary_from_softmax's, -log(clip(p, clip)) in float32; with two
    labels only the difference of the two unaries matters.
    """
    p1 = heat.ravel()
    u0 = -np.log(np.maximum(np.float32(1.0) - p1, np.float32(clip)))
    u1 = -np.log(np.maximum(p1, np.float32(clip)))
    return (u0 - u1).astype(dtype)


def _mean_field(lattice: PermutohedralLattice, unary_logit: np.ndarray, q1: np.ndarray, compat: float,
                iterations: int, dtype: np.dtype) -> np.ndarray:
    """Q1 (H * W,) after ``iterations`` mean-field steps from ``q1`` (H * W,), with the
    symmetric-normalised bilateral kernel K of ``lattice``."""
    norm = lattice.filter(np.ones(lattice.n, dtype=dtype))
    norm += dtype.type(1e-20)
    np.sqrt(norm, out=norm)
    np.reciprocal(norm, out=norm)  # 1 / sqrt(K 1): symmetric normalisation
    k_norm = lattice.filter(norm)
    k_norm *= dtype.type(compat)
    two_c = dtype.type(2.0 * compat)
    for _ in range(iterations):
        # m1 - m0 = norm * (K(norm q1) - K(norm q0)) = norm * (2 K(norm q1) - K(norm))
        z = lattice.filter(norm * q1)
        z *= two_c
        z -= k_norm
        z *= norm
        z += unary_logit
        q1 = expit(z)
    return q1


def dense_crf_numpy(
    image_rgb_uint8: np.ndarray,
    heatmap: np.ndarray,
    sxy: float = 80.0,
    srgb: float = 13.0,
    compat: float = 1.0,
    iterations: int = 10,
    clip: float = 1e-5,
    **grid_options: Any,
) -> np.ndarray:
    """Dense-CRF refinement of a heatmap in numpy/scipy (no ``pydensecrf`` needed).

    Computes what ``refine(image, heatmap, method="crf")`` computes (pydensecrf: one bilateral
    Potts term, DIAG_KERNEL, NORMALIZE_SYMMETRIC) with a port of its permutohedral lattice, so
    the result matches it to float rounding; see the module docstring.

    Args:
        image_rgb_uint8: uint8 H x W x 3 RGB image.
        heatmap: H x W floats in [0, 1]: the prior foreground probability of each pixel.
        sxy: spatial standard deviation of the bilateral kernel, in pixels.
        srgb: colour standard deviation of the bilateral kernel, in 8-bit intensity levels.
        compat: Potts weight: each step adds ``compat * message_l`` to label l's log-score.
        iterations: mean-field steps (0 returns the clipped, renormalised heatmap).
        clip: the unary probabilities are clipped below at ``clip`` before the log.
        **grid_options: see :data:`GRID_OPTIONS`: ``dtype="float64"`` filters in double
            precision instead of the reference's float32; ``sse_padding=False`` matches a
            pydensecrf built without SSE.

    Returns:
        float32 H x W in [0, 1]: the foreground marginal ``Q[1]`` after ``iterations`` steps.

    Raises:
        ValueError: the image is not uint8 H x W x 3 or is empty, the heatmap's shape differs or
            its values are not finite or leave [0, 1], a parameter is out of range (sxy, srgb
            > 0; finite compat; integer iterations >= 0; clip in (0, 0.5)), or an unknown grid
            option or dtype is given.
    """
    dtype, sse_padding = _grid_settings(grid_options)
    sxy, srgb = _positive("sxy", sxy), _positive("srgb", srgb)
    image = np.asarray(image_rgb_uint8)
    try:
        heat = np.asarray(heatmap, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise ValueError(f"heatmap must be an H x W array of numbers: {err}") from None
    _check_inputs(image, heat, compat, iterations, clip)
    h, w = heat.shape
    unary_logit = _unary_logit(heat, clip, dtype)
    q1 = expit(unary_logit)
    if iterations > 0:
        lattice = PermutohedralLattice(bilateral_features(image, sxy, srgb), dtype=dtype, sse_padding=sse_padding)
        q1 = _mean_field(lattice, unary_logit, q1, compat, int(iterations), dtype)
    return np.clip(q1.reshape(h, w), 0.0, 1.0).astype(np.float32)
