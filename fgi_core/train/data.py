"""Training data in memory: images, pseudo-masks, text and (for evaluation only) ground truth.

Throughput is a feature on 2 CPU cores: every image is decoded and resized **once** to the
training size and kept as one tensor; a batch is an index into it, and augmentation (flips on
both axes) runs on the batch tensor. Nothing here touches the disk during training.

Normalisation (docs/method.md §7.1): ImageNet mean/std for RGB, per-image z-score for
single-channel MRI. Masks are resized with nearest neighbour.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
import torch

__all__ = ["TrainingData", "load_training_data", "BatchSampler", "flip_batch", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class TrainingData:
    """A split at training size, as tensors (CPU; moved to the device per batch).

    Attributes:
        ids: image ids, in order.
        images: float32 N x C x S x S, normalised.
        m_hc, m_bc: uint8 N x S x S pseudo-masks (None if not loaded).
        text: float32 N x L x D token embeddings, zero-padded (None if not loaded).
        text_mask: bool N x L, True on real tokens.
        gt: uint8 N x S x S ground truth (None where the dataset has none); used for the
            fully supervised upper bound and for validation only.
        original_sizes: (H, W) per image, to score predictions at full size later.
    """

    ids: list[str]
    images: torch.Tensor
    m_hc: torch.Tensor | None = None
    m_bc: torch.Tensor | None = None
    text: torch.Tensor | None = None
    text_mask: torch.Tensor | None = None
    gt: torch.Tensor | None = None
    original_sizes: list[tuple[int, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def text_dim(self) -> int | None:
        return None if self.text is None else int(self.text.shape[-1])

    def to(self, device: str | torch.device) -> "TrainingData":
        """The same split with every tensor on ``device`` (training on a GPU keeps the data there:
        no host-to-device copy per batch). Returns ``self`` when they already are."""
        if self.images.device == torch.device(device):
            return self
        moved = {name: (value.to(device) if value is not None else None)
                 for name, value in ((n, getattr(self, n)) for n in ("images", "m_hc", "m_bc", "text", "text_mask", "gt"))}
        return TrainingData(self.ids, original_sizes=self.original_sizes, **moved)

    def batch(self, index: torch.Tensor, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
        """The tensors of ``index`` (1-D long) on ``device``; keys for what is loaded."""
        out = {"image": self.images[index].to(device, non_blocking=True)}
        for name in ("m_hc", "m_bc", "text", "text_mask", "gt"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value[index].to(device, non_blocking=True)
        return out


def _normalise(image: np.ndarray, channels: int) -> np.ndarray:
    """uint8 H x W x 3 (or H x W) -> float32 C x H x W normalised."""
    if channels == 1:
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        x = grey.astype(np.float32)
        return ((x - x.mean()) / max(float(x.std()), 1e-6))[None]
    x = image.astype(np.float32) / 255.0
    x = (x - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
    return x.transpose(2, 0, 1)


def load_training_data(
    dataset,
    run_dir: str | Path | None,
    ids: Iterable[str],
    size: int,
    pseudo_masks: bool = True,
    text: bool = True,
    ground_truth: bool = False,
) -> TrainingData:
    """Decode and resize ``ids`` once to ``size`` x ``size``.

    Args:
        dataset: a :class:`fgi_core.data.SegmentationDataset`.
        run_dir: the run folder (stage 1's ``gaze/`` for pseudo-masks, stage 2's ``explain/``
            for text); may be None when neither is asked for.
        ids: images to load.
        size: training side in pixels.
        pseudo_masks, text, ground_truth: what to load besides the images.

    Raises:
        FileNotFoundError: stage outputs missing (names the notebook to run).
        ValueError: an image has no ground truth while ``ground_truth=True``.
    """
    from ..gaze import load_gaze_maps

    ids = list(ids)
    channels = dataset.preset.channels
    images, hc, bc, gts, sizes = [], [], [], [], []
    embeddings = index = None
    if text:
        from ..explain import load_text_embeddings

        embeddings, index = load_text_embeddings(run_dir)
    for image_id in ids:
        raw = dataset.image(image_id)
        sizes.append(tuple(raw.shape[:2]))
        resized = cv2.resize(raw, (size, size), interpolation=cv2.INTER_AREA)
        images.append(_normalise(resized, channels))
        if pseudo_masks:
            maps = load_gaze_maps(run_dir, image_id)
            hc.append(cv2.resize(maps["m_hc"], (size, size), interpolation=cv2.INTER_NEAREST))
            bc.append(cv2.resize(maps["m_bc"], (size, size), interpolation=cv2.INTER_NEAREST))
        if ground_truth:
            gt = dataset.mask(image_id)
            if gt is None:
                raise ValueError(f"image {image_id!r} has no ground-truth mask, but ground_truth=True")
            gts.append(cv2.resize(gt.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST))
    data = TrainingData(ids=ids, images=torch.from_numpy(np.stack(images)), original_sizes=sizes)
    if pseudo_masks:
        data.m_hc, data.m_bc = torch.from_numpy(np.stack(hc)), torch.from_numpy(np.stack(bc))
    if ground_truth:
        data.gt = torch.from_numpy(np.stack(gts))
    if text:
        missing = [i for i in ids if i not in embeddings]
        if missing:
            raise KeyError(f"{len(missing)} images have no text embedding in {run_dir}/explain: {missing[:5]}; rerun notebook 02")
        length = max(1, max(embeddings[i].shape[0] for i in ids))
        dim = next(iter(embeddings.values())).shape[1]
        tokens = np.zeros((len(ids), length, dim), np.float32)
        mask = np.zeros((len(ids), length), bool)
        for k, i in enumerate(ids):
            n = embeddings[i].shape[0]
            tokens[k, :n], mask[k, :n] = embeddings[i], True
        mask[:, 0] |= ~mask.any(axis=1)  # an empty text still attends to one (zero) token
        data.text, data.text_mask = torch.from_numpy(tokens), torch.from_numpy(mask)
    return data


class BatchSampler:
    """Deterministic batches: a fresh permutation per epoch from a seeded ``torch.Generator``.

    The state (generator state, epoch order, position) is saved in checkpoints so a resumed
    run sees exactly the batches an uninterrupted one would.
    """

    def __init__(self, n: int, batch_size: int, seed: int):
        if n == 0:
            raise ValueError("no training images")
        self.n, self.batch_size = n, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(n, generator=self.generator)
        self.position = 0

    def next(self) -> torch.Tensor:
        """The next ``batch_size`` indices (wrapping into a new epoch's permutation)."""
        picked, count = [], 0  # count samples, not chunks: a batch has exactly batch_size indices
        while count < self.batch_size:
            if self.position >= self.n:
                self.order = torch.randperm(self.n, generator=self.generator)
                self.position = 0
            take = min(self.batch_size - count, self.n - self.position)
            picked.append(self.order[self.position : self.position + take])
            self.position += take
            count += take
        return torch.cat(picked)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "order": self.order.clone(), "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.order, self.position = state["order"].clone(), int(state["position"])


def flip_batch(batch: dict[str, torch.Tensor], generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Random flips on both axes, per sample, applied alike to the image and its masks.

    Draws come from ``generator`` (on the CPU) so runs are reproducible and resumable.
    """
    b = batch["image"].shape[0]
    flips = torch.rand(b, 2, generator=generator) < 0.5
    out = dict(batch)
    for axis, column in ((-1, 0), (-2, 1)):
        rows = flips[:, column].to(batch["image"].device)
        if not rows.any():
            continue
        for key in ("image", "m_hc", "m_bc", "gt"):
            if key in out:
                value = out[key]
                flipped = value.flip(axis)
                shape = (b,) + (1,) * (value.dim() - 1)
                out[key] = torch.where(rows.view(shape), flipped, value)
    return out
