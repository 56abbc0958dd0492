"""Stage 1: clinician gaze -> heatmap -> refined map -> pseudo-masks M_hc and M_bc.

Public API (docs/design.md §8): :func:`read_fixations`, :func:`heatmap`, :func:`refine`,
:func:`pseudo_masks`, :func:`simulate`; and :func:`run_gaze_stage` for a whole dataset.
"""
from .fixations import (
    FIXATION_COLUMNS,
    FixationError,
    FixationReport,
    fixations_to_frame,
    image_size_for,
    points_for,
    read_fixations,
    write_fixations,
)
from .heatmap import heatmap
from .masks import pseudo_masks
from .pipeline import GazeStageResult, gaze_maps_for, load_gaze_maps, run_gaze_stage
from .refine import crf_available, refine, refine_params, resolve_refine_method
from .simulate import KVASIR_GAZE_STATS, SimulatorParams, simulate
from .stats import compare_gaze_statistics, fraction_inside, summarise_gaze

__all__ = [
    "FIXATION_COLUMNS",
    "FixationError",
    "FixationReport",
    "fixations_to_frame",
    "image_size_for",
    "points_for",
    "read_fixations",
    "write_fixations",
    "heatmap",
    "pseudo_masks",
    "GazeStageResult",
    "gaze_maps_for",
    "load_gaze_maps",
    "run_gaze_stage",
    "crf_available",
    "refine",
    "refine_params",
    "resolve_refine_method",
    "KVASIR_GAZE_STATS",
    "SimulatorParams",
    "simulate",
    "compare_gaze_statistics",
    "fraction_inside",
    "summarise_gaze",
]
