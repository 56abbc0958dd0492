"""Interpretability: how predictions, gaze and lesion descriptions hang together, image by image.

The paper claims that the framework keeps the segmentation, the clinicians' gaze and the VLM's
description of the lesion correlated, which is what keeps it interpretable (docs/method.md §8).
This package *measures* those links; :mod:`fgi_core.widgets` shows them;
``notebooks/06_interpretability`` puts both to work on a run folder.

One job per module:

* :mod:`.gaze` -- **gaze vs prediction** (:func:`gaze_agreement`), for a predicted probability
  map p: ``cc`` (Pearson correlation of the gaze heatmap and p), ``nss`` (mean z-scored p at the
  fixations; 0 = chance), ``auc_pred`` (ROC AUC of the heatmap as a score for the predicted
  region ``p >= t``; 0.5 = chance) and, network-free, ``auc_gt`` (the same against the truth);
* :mod:`.descriptions` -- **description vs prediction** (:func:`description_consistency`): the
  described Location against the 3 x 3 cell of the predicted region's centroid, the Area
  Percentage against the predicted area, the Boundary against the class *measured* on the
  predicted region with the describer's own rule (:mod:`fgi_core.explain.measures`);
* :mod:`.attention` -- **the teacher's cross-attention** (:func:`teacher_attention`,
  :func:`token_map`, :func:`field_map`, :func:`attention_rows`): per stage, every pixel's
  weights over the text tokens, per token and per field;
* :mod:`.inspection` -- a run's images, gaze, descriptions and both networks' predictions in
  memory (:func:`load_inspection`, :class:`Inspection`, :class:`ImageRecord`), loaded and
  predicted through :mod:`fgi_core.predict`;
* :mod:`.tables` -- every per-image measurement of an inspection (:func:`measure`,
  :func:`attention_table`);
* :mod:`.compare` -- bootstrap intervals of the tables and the paired teacher-vs-student
  comparison (:func:`summary_table`, :func:`compare_sources`);
* :mod:`.summary` -- the run's dataset-level figures (:func:`dataset_summary`,
  :func:`attention_summary`, :func:`json_ready`).

Everything is computed at the networks' input size S x S (the profile's ``image_size``).

The scores and statistics themselves live in :mod:`fgi_core.metrics` (CC, NSS, AUC, Dice,
bootstrap intervals, the paired bootstrap, kappa) and the Boundary rule in
:mod:`fgi_core.explain.measures`; import them from there. This package's intervals carry the
statistics' keys (``n``, ``mean``, ``low``, ``high``; :mod:`.compare`).
"""
from __future__ import annotations

from .attention import ATTENTION_STAGES, attention_rows, field_map, teacher_attention, token_map
from .compare import ci_strings, compare_sources, summary_by_source, summary_table
from .descriptions import area_bin_distance, cell_distance, cell_of, description_consistency
from .gaze import gaze_agreement
from .inspection import ImageRecord, Inspection, load_inspection
from .summary import attention_records, attention_summary, dataset_summary, json_ready
from .tables import DESCRIPTION_METRICS, GAZE_METRICS, SOURCES, attention_table, measure

__all__ = [
    "cell_of",
    "cell_distance",
    "area_bin_distance",
    "gaze_agreement",
    "description_consistency",
    "teacher_attention",
    "token_map",
    "field_map",
    "attention_rows",
    "summary_table",
    "compare_sources",
    "summary_by_source",
    "ci_strings",
    "dataset_summary",
    "attention_records",
    "json_ready",
    "GAZE_METRICS",
    "DESCRIPTION_METRICS",
    "ImageRecord",
    "Inspection",
    "load_inspection",
    "measure",
    "attention_table",
    "attention_summary",
    "ATTENTION_STAGES",
    "SOURCES",
]
