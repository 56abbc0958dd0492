"""Datasets: a registry of readers and the synthetic generator.

``create_dataset(name, root=None, **kwargs)`` builds one; ``list_datasets()`` names them:
``synthetic``, ``kvasir``, ``isic``, ``nci-isbi`` and ``folder`` (your own images + gaze CSV).
Each reader registers itself, with its presets and data folder, in its own module
(:data:`~fgi_core.data.base.DATASETS`); a new reader needs one import line below.
``python -m fgi_core.data.prepare {isic,nci-isbi} ...`` prepares the downloaded releases.
"""
from .base import (
    DATASETS,
    DatasetEntry,
    SegmentationDataset,
    create_dataset,
    data_folders,
    PRESETS,
    dataset_presets,
    get_preset,
    list_datasets,
    register_dataset,
    to_rgb_uint8,
)

# The readers, one import each; their order is the order of PRESETS.
from .kvasir import KvasirSEG
from .isic import ISIC2018, prepare_isic
from .nci_isbi import NCIISBI, parse_slice_id, prepare_nci_isbi, read_dicom_slice, slice_id, zscore
from .synthetic import SyntheticDataset, generate_sample
from .folder import FolderDataset
from .splits import carve_validation, read_split_file, write_split_files

__all__ = [
    "SegmentationDataset",
    "DATASETS",
    "DatasetEntry",
    "create_dataset",
    "list_datasets",
    "register_dataset",
    "dataset_presets",
    "PRESETS",
    "get_preset",
    "data_folders",
    "to_rgb_uint8",
    "KvasirSEG",
    "read_split_file",
    "SyntheticDataset",
    "generate_sample",
    "ISIC2018",
    "prepare_isic",
    "NCIISBI",
    "prepare_nci_isbi",
    "read_dicom_slice",
    "slice_id",
    "parse_slice_id",
    "zscore",
    "FolderDataset",
    "carve_validation",
    "write_split_files",
]
