"""Every score and statistic of the project, each defined once.

* :mod:`.overlap` -- Dice, IoU, precision, recall on masks (numpy), and :func:`dice_per_image`
  on batched torch masks (validation during training); the empty-set convention;
* :mod:`.surface` -- HD95 and ASD (boundary distances, MONAI's definitions);
* :mod:`.saliency` -- CC, NSS, AUC of maps against maps, fixations and regions;
* :mod:`.statistics` -- summaries over images, bootstrap intervals, the paired bootstrap
  (``a - b``), Cohen's kappa; one default number of resamples (:data:`DEFAULT_N_BOOT`).

:mod:`fgi_core.evaluate` (whole methods over a dataset) and :mod:`fgi_core.interpret`
(links between predictions, gaze and descriptions) are built on these and re-export the names
they always had.
"""
from .overlap import as_masks, dice, dice_per_image, iou, overlap_scores, precision, recall
from .saliency import auc, cc, fixation_map, nss, separation_auc
from .statistics import (
    DEFAULT_LEVEL,
    DEFAULT_N_BOOT,
    bootstrap_interval,
    cohen_kappa,
    finite_values,
    paired_bootstrap,
    spread,
    summarise,
)
from .surface import asd, boundary_pixels, hd95, surface_distances

__all__ = [
    "as_masks", "dice", "dice_per_image", "iou", "overlap_scores", "precision", "recall",
    "asd", "boundary_pixels", "hd95", "surface_distances",
    "auc", "cc", "fixation_map", "nss", "separation_auc",
    "DEFAULT_LEVEL", "DEFAULT_N_BOOT", "bootstrap_interval", "cohen_kappa", "finite_values", "paired_bootstrap",
    "spread", "summarise",
]
