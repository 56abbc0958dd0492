"""Datasets: a registry of readers and the synthetic generator.

``create_dataset(name, root=None, **kwargs)`` builds one; ``list_datasets()`` names them.
"""
from .base import SegmentationDataset, create_dataset, list_datasets, register_dataset, to_rgb_uint8
from .kvasir import KvasirSEG, read_split_file
from .synthetic import SyntheticDataset, generate_sample

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
]
