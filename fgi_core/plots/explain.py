"""Figures of the explanation stage (docs/method.md §2): descriptions beside their images, the
distribution of each field, descriptions against ground truth, similarity of text embeddings.

Every ``plot_*`` function returns a matplotlib Figure and never calls ``plt.show``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from .layers import overlay

if TYPE_CHECKING:  # pragma: no cover
    import matplotlib.figure

__all__ = ["plot_explanations", "plot_field_distribution", "plot_confusion", "plot_similarity"]


def plot_explanations(images: Sequence[np.ndarray], heatmaps: Sequence[np.ndarray | None], explanations: Sequence,
                      cols: int = 3) -> "matplotlib.figure.Figure":
    """Images with their gaze heatmap and, below each, the explanation's fields (or its status).

    Args:
        images: uint8 H x W x 3 each.
        heatmaps: float H x W in [0, 1] each, or None (the image alone).
        explanations: records with ``id``, ``status``, ``reason`` and ``fields`` (a dict or None).
    """
    import textwrap

    import matplotlib.pyplot as plt

    rows = int(np.ceil(len(images) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 5.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, image, heat, e in zip(axes.flat, images, heatmaps, explanations):
        if heat is not None:
            overlay(ax, image, heat, "heat", alpha=0.35)
        else:
            ax.imshow(image)
        if e.fields:
            body = "\n".join(textwrap.fill(f"{k}: {v}", 52) for k, v in e.fields.items())
        else:
            body = textwrap.fill(f"[{e.status}] {e.reason}", 52)
        ax.set_title(f"{e.id}  ({e.status})", fontsize=8)
        ax.text(0.0, -0.03, body, transform=ax.transAxes, fontsize=7, va="top", family="monospace")
    fig.tight_layout()
    return fig


def plot_field_distribution(explanations: Sequence, vocabulary: dict[str, Sequence[str]]) -> "matplotlib.figure.Figure":
    """Counts of each vocabulary value per categorical field (invalid records counted apart), one
    panel per field of ``vocabulary`` (field -> its allowed values) that has values."""
    import matplotlib.pyplot as plt

    fields = [f for f in vocabulary if vocabulary[f]]
    fig, axes = plt.subplots(1, len(fields), figsize=(3.3 * len(fields), 3.2))
    for ax, field in zip(np.atleast_1d(axes), fields):
        values = list(vocabulary[field])
        counts = [sum(1 for e in explanations if e.fields and e.fields.get(field) == v) for v in values]
        invalid = sum(1 for e in explanations if not e.fields)
        labels = values + (["(invalid)"] if invalid else [])
        ax.barh(np.arange(len(labels)), counts + ([invalid] if invalid else []), color="tab:blue")
        ax.set_yticks(np.arange(len(labels)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_title(field, fontsize=9)
    fig.tight_layout()
    return fig


def plot_confusion(true: Sequence[str], predicted: Sequence[str], labels: Sequence[str], title: str = "") -> "matplotlib.figure.Figure":
    """Confusion matrix (L x L for the L ``labels``; rows: truth, columns: description), counts
    written in the cells, accuracy in the title."""
    import matplotlib.pyplot as plt

    index = {label: k for k, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), int)
    for t, p in zip(true, predicted):
        if t in index and p in index:
            matrix[index[t], index[p]] += 1
    fig, ax = plt.subplots(figsize=(0.55 * len(labels) + 2.2, 0.55 * len(labels) + 1.6))
    ax.imshow(matrix, cmap="Blues")
    for (r, c), v in np.ndenumerate(matrix):
        if v:
            ax.text(c, r, str(v), ha="center", va="center", fontsize=7, color="white" if v > matrix.max() / 2 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("described")
    ax.set_ylabel("ground truth")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(f"{title}\naccuracy {accuracy:.2f} ({matrix.sum()} images)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_similarity(vectors: np.ndarray, labels: Sequence[str], title: str = "") -> "matplotlib.figure.Figure":
    """Cosine similarity (N x N) of pooled text embeddings ``vectors`` (N x D), images sorted by
    ``labels`` (N; blocks = groups)."""
    import matplotlib.pyplot as plt

    order = np.argsort(np.asarray(labels, dtype=str), kind="stable")
    v = vectors[order] / np.linalg.norm(vectors[order], axis=1, keepdims=True).clip(1e-12)
    sim = v @ v.T
    fig, ax = plt.subplots(figsize=(5, 4.4))
    im = ax.imshow(sim, cmap="viridis")
    fig.colorbar(im, ax=ax, fraction=0.046)
    sorted_labels = np.asarray(labels, dtype=str)[order]
    starts = [0] + [k for k in range(1, len(sorted_labels)) if sorted_labels[k] != sorted_labels[k - 1]]
    for s in starts[1:]:
        ax.axhline(s - 0.5, color="white", lw=0.6)
        ax.axvline(s - 0.5, color="white", lw=0.6)
    ax.set_yticks(starts, [sorted_labels[s] for s in starts], fontsize=6)
    ax.set_xticks([])
    ax.set_title(title or "cosine similarity of text embeddings", fontsize=9)
    fig.tight_layout()
    return fig
