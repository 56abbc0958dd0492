"""The dataset interface every reader implements, and the registry that names them.

A dataset here is a list of image ids plus three lookups: the image at its original size, the
ground-truth mask (for evaluation only), and the gaze CSV (GazeMedSeg format). Training-time
resizing and tensors come later (:mod:`fgi_core.train.data`); the gaze stage works at original size.

The registry (:data:`DATASETS`, a :class:`~fgi_core.registry.Registry`) holds one
:class:`DatasetEntry` per reader: the class, the presets it brings (docs/method.md §1: sigma,
thresholds, channels, gaze source) and the folder its data lives in under a data root. Each reader
registers itself in its own module, so a new dataset is one file plus an import line in
``fgi_core/data/__init__.py``::

    @register_dataset("my-scans", presets=DatasetPreset("my-scans", "mri", 1, 50 / 768, 0.4, 0.2),
                      folder="my-scans")
    class MyScans(SegmentationDataset): ...

:data:`PRESETS` (:func:`dataset_presets`, :func:`get_preset`) and ``fgi_core.runs.DATA_FOLDERS``
(:func:`data_folders`) are read from it.

Example:
    >>> from fgi_core.data import create_dataset
    >>> ds = create_dataset("synthetic", n_images=4, size=(96, 128), seed=0)
    >>> ds.image(ds.ids[0]).shape, ds.mask(ds.ids[0]).dtype
    ((96, 128, 3), dtype('bool'))
"""
from __future__ import annotations

import abc
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..config import DatasetPreset
from ..registry import Registry, RegistryView, look_up_option

__all__ = [
    "SegmentationDataset",
    "DatasetEntry",
    "DATASETS",
    "register_dataset",
    "create_dataset",
    "list_datasets",
    "dataset_presets",
    "PRESETS",
    "get_preset",
    "data_folders",
    "to_rgb_uint8",
]

SPLITS = ("train", "val", "test", "all")


class SegmentationDataset(abc.ABC):
    """Images with one lesion class, their masks, and where their gaze comes from.

    Subclasses set ``name``, ``preset`` and ``ids`` and implement :meth:`image`,
    :meth:`mask` and :meth:`gaze_csv`.

    Attributes:
        name: registry name (``synthetic``, ``kvasir`` ...), also the run folder's dataset part.
        preset: the :class:`~fgi_core.config.DatasetPreset` (sigma, thresholds, modality).
        ids: every image id (sorted, unless a reader was given an explicit list); ids are file
            names without extension.
        splits: split name -> ids (``train``/``val``/``test`` where known, ``all`` always).
    """

    name: str
    preset: DatasetPreset
    ids: list[str]
    splits: dict[str, list[str]]

    @property
    def modality(self) -> str:
        return self.preset.modality

    @property
    def simulated_gaze(self) -> bool:
        """True when the gaze is made from masks (synthetic, ISIC); every record says so."""
        return self.preset.gaze == "simulated"

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self.splits.items())
        return f"{type(self).__name__}(name={self.name!r}, modality={self.modality!r}, {sizes})"

    def split(self, name: str) -> list[str]:
        """Ids of split ``name`` (``train``, ``val``, ``test`` or ``all``).

        Raises:
            ValueError: for a split this dataset does not have, naming the ones it has.
        """
        look_up_option(name, self.splits, f"split of dataset {self.name!r}")
        return list(self.splits[name])

    def check_id(self, image_id: str) -> str:
        if image_id not in self._id_set:
            raise KeyError(f"image id {image_id!r} is not in dataset {self.name!r} ({len(self.ids)} images)")
        return image_id

    @property
    def _id_set(self) -> set[str]:
        cached = getattr(self, "_ids_cache", None)
        if cached is None or len(cached) != len(self.ids):
            cached = set(self.ids)
            self._ids_cache = cached
        return cached

    @abc.abstractmethod
    def image(self, image_id: str) -> np.ndarray:
        """The image at original size: uint8 H x W x 3 RGB, or H x W for single-channel MRI."""

    @abc.abstractmethod
    def mask(self, image_id: str) -> np.ndarray | None:
        """Ground truth, bool H x W, or None where the dataset has none. Evaluation only."""

    @abc.abstractmethod
    def gaze_csv(self, work_dir: str | Path | None = None) -> Path:
        """Path of a GazeMedSeg-format fixation CSV covering this dataset.

        Datasets with recorded gaze return their file; simulated ones write it into
        ``work_dir`` (required then) and return that path.
        """

    def image_rgb(self, image_id: str) -> np.ndarray:
        """uint8 H x W x 3 for display and the dense CRF (MRI: min-max to 8 bits, repeated)."""
        return to_rgb_uint8(self.image(image_id))


def given_gaze_csv(gaze_csv: str | os.PathLike | None) -> Path | None:
    """A reader's ``gaze_csv=`` argument as a Path (None stays None); it must exist."""
    if not gaze_csv:
        return None
    path = Path(gaze_csv).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"gaze_csv {path} does not exist")
    return path


def first_gaze_csv(candidates: list[Path], dataset: str, hint: str) -> Path:
    """The first existing file of ``candidates``, else a FileNotFoundError listing them and ``hint``."""
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(f"no gaze CSV for {dataset}; looked at: " + ", ".join(str(c) for c in candidates) + f". {hint}")


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """H x W or H x W x C image -> uint8 H x W x 3.

    A single-channel (MRI) slice is min-max scaled to 0..255 and repeated to 3 channels, as
    docs/method.md §1.3 asks for the CRF; a uint8 RGB image passes through unchanged.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim != 2:
        raise ValueError(f"expected an H x W or H x W x 3 image, got shape {image.shape}")
    x = image.astype(np.float64)
    lo, hi = float(x.min()), float(x.max())
    scaled = np.zeros_like(x) if hi <= lo else (x - lo) / (hi - lo) * 255.0
    grey = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


@dataclass(frozen=True)
class DatasetEntry:
    """One registered dataset reader.

    Attributes:
        name: the registry name (``create_dataset(name, ...)``), also the run folder's dataset part.
        reader: the :class:`SegmentationDataset` subclass (or any callable returning one).
        presets: the presets (:class:`~fgi_core.config.DatasetPreset`) this reader brings, by
            their own names (``synthetic`` brings one per flavour; ``folder`` none: it borrows the
            preset of its modality's paper dataset).
        folder: the folder name of its data under a data root (``kvasir-seg``), or None when
            it needs no data folder (``synthetic``) or has no fixed one (``folder``).
    """

    name: str
    reader: Callable[..., SegmentationDataset]
    presets: tuple[DatasetPreset, ...] = ()
    folder: str | None = None


#: Dataset name -> :class:`DatasetEntry`, filled by :func:`register_dataset`.
DATASETS: Registry = Registry("dataset")


def register_dataset(name: str, presets: DatasetPreset | Sequence[DatasetPreset] = (), folder: str | None = None) -> Callable:
    """Class decorator: make a dataset constructible by ``create_dataset(name, ...)``.

    Args:
        name: the registry name.
        presets: the preset(s) this reader brings; each name must be new to the registry.
        folder: its data folder under a data root (see :data:`fgi_core.runs.DATA_FOLDERS`).

    Raises:
        ValueError: ``name`` or a preset name is registered already.
    """
    presets = (presets,) if isinstance(presets, DatasetPreset) else tuple(presets)

    def wrap(cls: Callable[..., SegmentationDataset]) -> Callable[..., SegmentationDataset]:
        taken = set(dataset_presets()) if name not in DATASETS else set()  # (a second name fails below)
        for preset in presets:
            if preset.name in taken or [p.name for p in presets].count(preset.name) > 1:
                raise ValueError(f"dataset preset {preset.name!r} is registered twice")
        DATASETS.register(name, DatasetEntry(name, cls, presets, folder))
        return cls

    return wrap


def list_datasets() -> list[str]:
    """Names accepted by :func:`create_dataset`."""
    return DATASETS.names()


def dataset_presets() -> dict[str, DatasetPreset]:
    """Preset name -> preset, over every registered reader (in registration order)."""
    return {p.name: p for entry in DATASETS.values() for p in entry.presets}


#: Preset name -> :class:`~fgi_core.config.DatasetPreset`: a read-only view of the presets the
#: readers register (``kvasir``, ``isic``, ``nci-isbi``, ``synthetic`` and ``synthetic-<flavour>``).
PRESETS: Mapping[str, DatasetPreset] = RegistryView(dataset_presets, "dataset preset")


def get_preset(dataset: str, **overrides: Any) -> DatasetPreset:
    """The preset of ``dataset``, with fields replaced by ``overrides`` (e.g. ``t_hc=0.6``).

    Example:
        >>> get_preset("kvasir").t_hc, get_preset("kvasir", t_hc=0.6).t_hc
        (0.5, 0.6)
    """
    preset = PRESETS[look_up_option(dataset, PRESETS, "dataset")]
    return dataclasses.replace(preset, **overrides) if overrides else preset


def data_folders() -> dict[str, str]:
    """Dataset name -> its data folder name, for the readers registered with one."""
    return {entry.name: entry.folder for entry in DATASETS.values() if entry.folder is not None}


def create_dataset(name: str, root: str | Path | None = None, **kwargs) -> SegmentationDataset:
    """Build dataset ``name``; ``root`` is its data folder (not used by ``synthetic``).

    Raises:
        ValueError: for an unknown name, listing the registered ones.
    """
    reader = DATASETS.lookup(name).reader
    if root is not None:
        kwargs["root"] = root
    return reader(**kwargs)
