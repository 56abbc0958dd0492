"""Pseudo-masks from the refined gaze map: M_hc (precise, partial) and M_bc (complete, noisy)."""
from __future__ import annotations

import numpy as np

__all__ = ["pseudo_masks"]


def pseudo_masks(refined: np.ndarray, t_hc: float, t_bc: float) -> tuple[np.ndarray, np.ndarray]:
    """Threshold the refined map twice.

    Args:
        refined: float H x W in [0, 1] (from :func:`fgi_core.gaze.refine`).
        t_hc: high-confidence threshold (Kvasir-SEG / ISIC 0.5, NCI-ISBI 0.4).
        t_bc: broad-coverage threshold, ``0 <= t_bc < t_hc`` (0.3 / 0.2).

    Returns:
        ``(m_hc, m_bc)``, uint8 H x W in {0, 1}: ``m_hc = refined >= t_hc`` and
        ``m_bc = refined >= t_bc``, so M_hc is always inside M_bc.

    Raises:
        ValueError: thresholds out of order or outside [0, 1]; a map that is not 2-D.

    Example:
        >>> import numpy as np
        >>> m_hc, m_bc = pseudo_masks(np.array([[0.2, 0.4, 0.6]]), t_hc=0.5, t_bc=0.3)
        >>> m_hc.tolist(), m_bc.tolist()
        ([[0, 0, 1]], [[0, 1, 1]])
    """
    if not 0.0 <= t_bc < t_hc <= 1.0:
        raise ValueError(f"thresholds must satisfy 0 <= t_bc < t_hc <= 1, got t_hc={t_hc}, t_bc={t_bc}")
    refined = np.asarray(refined)
    if refined.ndim != 2:
        raise ValueError(f"refined map must be H x W, got shape {refined.shape}")
    return (refined >= t_hc).astype(np.uint8), (refined >= t_bc).astype(np.uint8)
