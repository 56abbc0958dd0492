"""Datasets: a registry of readers and the synthetic generator.

``create_dataset(name, root=None, **kwargs)`` builds one; ``list_datasets()`` names them:
``synthetic``, ``kvasir``, ``isic``, ``nci-isbi`` and ``folder`` (your own images + gaze CSV).
``python -m fgi_core.data.prepare {isic,nci-isbi} ...`` prepares the downloaded releases.
"""
from .base import SegmentationDataset, create_dataset, list_datasets, register_dataset, to_rgb_uint8
from .kvasir import KvasirSEG, read_split_file
from .synthetic import SyntheticDataset, generate_sample
from .isic import ISIC2018, prepare_isic
from .nci_isbi import NCIISBI, parse_slice_id, prepare_nci_isbi, read_dicom_slice, slice_id, zscore
from .folder import FolderDataset
from .splits import carve_validation, write_split_files

__all__ = [
    "SegmentationDataset",
    "create_dataset",
    "list_datasets",
    "register_dataset",
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
