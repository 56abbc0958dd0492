"""The data that flows through stage 2: what an explainer sees, and what it returns.

An explainer sees an :class:`ExplainItem`: the image, its modality and the *gaze* outputs of
stage 1. There is deliberately no field for a ground-truth mask: nothing derived from ground
truth may reach an explainer (docs/design.md §4.3); a test guards this.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["ExplainItem", "Explanation", "STATUSES"]

STATUSES = ("ok", "repaired", "invalid")


@dataclass
class ExplainItem:
    """One image to explain.

    Attributes:
        id: image id.
        image: uint8 H x W x 3 RGB (MRI: min-max to 8 bits, repeated to 3 channels).
        modality: ``endoscopy``, ``mri`` or ``dermoscopy`` (chooses the vocabulary).
        points: N x 3 fixations (x, y normalised; duration ms), or None.
        heatmap, refined: float32 H x W in [0, 1] from stage 1, or None.
        m_hc, m_bc: uint8 H x W {0, 1} pseudo-masks from stage 1, or None.
        simulated_gaze: True when the gaze was simulated from masks (synthetic, ISIC).
    """

    id: str
    image: np.ndarray
    modality: str
    points: np.ndarray | None = None
    heatmap: np.ndarray | None = None
    refined: np.ndarray | None = None
    m_hc: np.ndarray | None = None
    m_bc: np.ndarray | None = None
    simulated_gaze: bool = False


@dataclass
class Explanation:
    """One image's explanation, as stored (one JSON line of ``explain/explanations.jsonl``).

    Attributes:
        id: image id.
        fields: the six fields (``fgi_core.explain.schema.FIELDS``) snapped to the vocabulary,
            or None when ``status == "invalid"``.
        status: ``ok`` (parsed as is), ``repaired`` (parsed after repairs, reason says which) or
            ``invalid`` (nothing usable; never silently replaced).
        reason: why the status is not ``ok`` ("" when ok).
        raw_text: the backend's text exactly as produced.
        backend: backend name (``transformers``, ``jsonl``, ``describer``).
        model: model id / path / description of the backend's model.
        prompt_version: version string of the prompt used (``schema.PROMPT_VERSION``).
        attempts: generations tried (retry policy).
        extra: backend-specific metadata (e.g. the describer's measurements; ``simulated_gaze``).
    """

    id: str
    fields: dict[str, str] | None
    status: str
    reason: str
    raw_text: str
    backend: str
    model: str
    prompt_version: str
    attempts: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Explanation":
        return cls(**d)
