"""A run's images, gaze, descriptions and both networks' predictions, in memory.

:func:`load_inspection` reads a run folder (``gaze/``, ``explain/``, ``student/``): the networks
come back through :func:`fgi_core.predict.load_predictor` (rebuilt from their checkpoints' tensor
shapes, read with their stored activation) and predict through
:meth:`fgi_core.predict.Predictor.batch_probabilities`, at the networks' input size S x S (the
profile's ``image_size``). Gaze maps, masks and the image are resized to S (area interpolation
for images and soft maps, nearest for masks); fixations are normalised coordinates, so they map
to any size.

Ground truth is read here only to *score* (``auc_gt``, Dice), after training; nothing here feeds
a loss or an explainer.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .attention import teacher_attention

__all__ = ["ImageRecord", "Inspection", "load_inspection"]


@dataclass
class ImageRecord:
    """What the measurements and the inspector need of one image, all at S x S.

    Attributes:
        id: image id.
        image: uint8 S x S x 3 RGB (for display and the boundary measurements).
        points: N x 3 fixations (x, y normalised; duration ms) in fixation order.
        heatmap, refined: float32 S x S gaze maps in [0, 1].
        m_hc, m_bc: uint8 S x S pseudo-masks {0, 1}.
        gt: bool S x S ground truth, or None.
        prob: source (``teacher``, ``student``) -> float32 S x S foreground probability.
        fields: the explanation's fields (None when invalid); status its parse status.
        token_spans: field -> token span ``(start, end)`` in the encoded text.
        tokens: one label per token of the encoded text (e.g. ``"[CLS]"``, ``"upper"``).
        attention: the teacher's four ``L x h_s x w_s`` attention arrays, when computed.

    Raises:
        ValueError: a map whose shape is not the image's S x S (named).
    """

    id: str
    image: np.ndarray
    points: np.ndarray
    heatmap: np.ndarray
    refined: np.ndarray
    m_hc: np.ndarray
    m_bc: np.ndarray
    gt: np.ndarray | None = None
    prob: dict[str, np.ndarray] = field(default_factory=dict)
    fields: dict[str, str] | None = None
    status: str = "ok"
    token_spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)
    attention: list[np.ndarray] | None = None

    def __post_init__(self) -> None:
        s = np.shape(self.image)[:2]
        for name in ("heatmap", "refined", "m_hc", "m_bc", "gt"):
            v = getattr(self, name)
            if v is not None and np.shape(v) != s:
                raise ValueError(f"image {self.id!r}: {name} has shape {np.shape(v)}, the image {s}")
        for name, v in self.prob.items():
            if np.shape(v) != s:
                raise ValueError(f"image {self.id!r}: prob[{name!r}] has shape {np.shape(v)}, the image {s}")


class Inspection:
    """The images of a run, ready to measure and to browse.

    Args:
        records: id -> :class:`ImageRecord` (order kept).
        teacher: the teacher network, to compute attention on demand (None: only the
            ``attention`` already in the records).
        inputs: id -> ``(image C x S x S, text L x D, text_mask L)`` tensors for the teacher.
        info: what was loaded (run folder, checkpoints, sizes).
        cache: how many images' attention to keep in memory.

    Raises:
        ValueError: no records.
    """

    def __init__(self, records: Mapping[str, ImageRecord] | Sequence[ImageRecord], teacher=None,
                 inputs: Mapping[str, tuple] | None = None, info: dict[str, Any] | None = None, cache: int = 16):
        items = records.values() if isinstance(records, Mapping) else records
        self.records: dict[str, ImageRecord] = {r.id: r for r in items}
        if not self.records:
            raise ValueError("an Inspection needs at least one image")
        self.teacher, self.inputs, self.info = teacher, dict(inputs or {}), dict(info or {})
        self._cache: OrderedDict[str, list[np.ndarray]] = OrderedDict()
        self._cache_size = int(cache)

    @property
    def ids(self) -> list[str]:
        return list(self.records)

    @property
    def sources(self) -> list[str]:
        """Prediction sources present in every record (``teacher``, ``student``)."""
        first = next(iter(self.records.values()))
        return [s for s in first.prob if all(s in r.prob for r in self.records.values())]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: str | int) -> ImageRecord:
        if isinstance(key, (int, np.integer)):
            return self.records[self.ids[int(key)]]
        if key not in self.records:
            raise KeyError(f"image {key!r} is not in this inspection ({len(self)} images, e.g. {self.ids[:3]})")
        return self.records[key]

    def __iter__(self):
        return iter(self.records.values())

    def attention(self, image_id: str, cache: bool = True) -> list[np.ndarray] | None:
        """The teacher's four ``L x S/2^s x S/2^s`` attention maps of ``image_id``
        (:func:`~fgi_core.interpret.teacher_attention`), or None.

        None when the record has none and there is no teacher with fusion to compute them.
        """
        record = self[image_id]
        if record.attention is not None:
            return record.attention
        if image_id in self._cache:
            self._cache.move_to_end(image_id)
            return self._cache[image_id]
        if self.teacher is None or not getattr(self.teacher, "use_fusion", False) or image_id not in self.inputs:
            return None
        maps = teacher_attention(self.teacher, *self.inputs[image_id])
        if cache:
            self._cache[image_id] = maps
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return maps


def _token_labels(explain_dir: Path, texts: Mapping[str, str]) -> dict[str, list[str]]:
    """Token strings of each text with the run's tokenizer (empty lists when it cannot be loaded)."""
    from ..io import read_json

    try:
        from ..explain.encode import load_tokenizer

        encoder = read_json(explain_dir / "manifest.json")["encoder"]
        tok = load_tokenizer(encoder["path"], local_files_only=True)
        out = {}
        for i, t in texts.items():
            ids = tok(t, truncation=True, max_length=int(encoder.get("max_length", 128)))["input_ids"]
            out[i] = tok.convert_ids_to_tokens(ids)
        return out
    except Exception:  # labels are a convenience: "#k" is used instead
        return {i: [] for i in texts}


def _check_stages(run_dir: Path, which: str) -> None:
    """Raise FileNotFoundError naming the notebook to run when a stage's outputs are missing."""
    for needed, notebook in (("gaze/manifest.json", "01_gaze_preprocessing"), ("explain/manifest.json", "02_vlm_explanation"),
                             (f"student/checkpoints/{which}.pt", "04_distillation")):
        if not (run_dir / needed).is_file():
            raise FileNotFoundError(f"{run_dir / needed} is missing: run notebooks/{notebook}.ipynb for this run first")


def _predictors(run_dir: Path, which: str, size: int, device: str):
    """The run's teacher and student :class:`~fgi_core.predict.Predictor`, and where the teacher came from.

    The teacher is the one after distillation (``student/checkpoints``, trained jointly with the
    student), else stage 1's (``teacher/checkpoints``) when the stage-2 checkpoint holds none.
    """
    from ..predict import load_predictor

    checkpoint = run_dir / "student" / "checkpoints" / f"{which}.pt"
    student = load_predictor(checkpoint, "student", which, device, size, run_dir)
    try:
        teacher = load_predictor(checkpoint, "teacher", which, device, size, run_dir)
        teacher_from = f"student/checkpoints/{which}.pt (after distillation)"
    except KeyError:  # a stage-2 checkpoint without its teacher
        teacher = load_predictor(run_dir / "teacher", "teacher", which, device, size, run_dir)
        teacher_from = f"teacher/checkpoints/{which}.pt (stage 1)"
    return teacher, student, teacher_from


def _predict(predictors: Mapping[str, Any], dataset, ids: list[str], batch_size: int):
    """Every source's foreground probability of ``ids`` at S x S, and the teacher's inputs.

    Returns:
        (source -> float32 N x S x S, id -> ``(image C x S x S, text L x D, text_mask L)`` CPU
        tensors for the teacher's attention; empty when the teacher reads no text).
    """
    probs: dict[str, list[np.ndarray]] = {name: [] for name in predictors}
    inputs = {}
    texts = [p.text for p in predictors.values() if p.needs_text and p.text is not None]
    length = max((texts[0][i].shape[0] for i in ids if i in texts[0]), default=1) if texts else 1  # one L for all
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        images = [dataset.image(i) for i in chunk]
        for name, predictor in predictors.items():
            batch = predictor.inputs(images, chunk, text_length=length)
            probs[name].append(predictor.batch_probabilities(batch).cpu().numpy())
            if name == "teacher" and "text" in batch:
                inputs.update({i: (batch["image"][k].cpu(), batch["text"][k].cpu(), batch["text_mask"][k].cpu())
                               for k, i in enumerate(chunk)})
    return {name: np.concatenate(p) for name, p in probs.items()}, inputs


def _ground_truth(dataset, ids: list[str], size: int) -> list[np.ndarray] | None:
    """Bool S x S ground truth of each id (nearest resize), or None when any image has none."""
    import cv2

    masks = [dataset.mask(i) for i in ids]
    if any(m is None for m in masks):
        return None
    return [cv2.resize(m.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST).astype(bool) for m in masks]


def _image_records(dataset, run_dir: Path, ids: list[str], probs: Mapping[str, np.ndarray], gt: list[np.ndarray] | None,
                   size: int, lengths: Mapping[str, int]) -> tuple[list[ImageRecord], dict[str, Any]]:
    """An :class:`ImageRecord` per id (maps resized to ``size``), and the gaze stage's parameters.

    ``lengths``: id -> encoded text length, where ``embeddings_index.json`` does not say.

    Raises:
        KeyError: an id without an explanation (named, with the notebook to rerun).
    """
    import cv2

    from ..explain import load_explanations
    from ..explain.pipeline import text_for
    from ..gaze import load_gaze_maps, points_for, read_fixations
    from ..io import read_json

    params = read_json(run_dir / "gaze" / "params.json")
    frame, _ = read_fixations(params["gaze_csv"], image_ids=ids)
    explanations = load_explanations(run_dir)
    missing = [i for i in ids if i not in explanations]
    if missing:
        raise KeyError(f"image {missing[0]!r} has no explanation in {run_dir / 'explain'}: rerun notebooks/02_vlm_explanation.ipynb")
    index = read_json(run_dir / "explain" / "embeddings_index.json").get("images", {})
    labels = _token_labels(run_dir / "explain", {i: text_for(explanations[i])[0] for i in ids})

    def fit(a, nearest=False):
        return cv2.resize(a, (size, size), interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)

    records = []
    for k, i in enumerate(ids):
        maps = load_gaze_maps(run_dir, i)
        entry = index.get(i, {})
        tokens = labels.get(i) or []
        length = int(entry.get("length", lengths.get(i, len(tokens))))
        records.append(ImageRecord(
            id=i, image=fit(dataset.image_rgb(i)), points=points_for(frame, i),
            heatmap=fit(maps["heatmap"]).astype(np.float32), refined=fit(maps["refined"]).astype(np.float32),
            m_hc=fit(maps["m_hc"], True), m_bc=fit(maps["m_bc"], True), gt=None if gt is None else gt[k],
            prob={name: p[k] for name, p in probs.items()}, fields=explanations[i].fields, status=explanations[i].status,
            token_spans={f: (int(s[0]), int(s[1])) for f, s in entry.get("token_spans", {}).items()},
            tokens=tokens if len(tokens) == length else [f"#{t}" for t in range(length)],
        ))
    return records, params


def load_inspection(
    dataset,
    run_dir: str | Path,
    profile,
    ids: Sequence[str],
    device: str = "cpu",
    which: str = "best",
    batch_size: int = 8,
) -> Inspection:
    """Load images, gaze, descriptions and both networks' predictions of a run folder.

    The teacher is the one after distillation (``student/checkpoints``, where the teacher was
    trained jointly with the student), as in notebook 04's results; without the stage-2
    checkpoint, an error names notebook 04. Both networks are rebuilt from their checkpoints
    (:func:`fgi_core.predict.load_predictor`), whatever widths they were trained with.

    Args:
        dataset: the run's :class:`~fgi_core.data.SegmentationDataset`.
        run_dir: the run folder (with ``gaze/``, ``explain/``, ``student/``).
        profile: the run's :class:`~fgi_core.config.Profile` (its ``image_size`` is S).
        ids: images to load (they must have gaze maps and explanations).
        device: torch device for the forward passes.
        which: ``best`` or ``last`` checkpoint.
        batch_size: images per forward pass.

    Returns:
        an :class:`Inspection` of ``len(ids)`` records at S x S, with the teacher network and its
        inputs for attention on demand.

    Raises:
        ValueError: ``ids`` is empty.
        FileNotFoundError: a stage's outputs are missing (names the notebook that makes them).
        KeyError: an id without gaze maps, text or explanation (named).
    """
    run_dir, ids = Path(run_dir), list(ids)
    if not ids:
        raise ValueError("no images to inspect (ids is empty)")
    _check_stages(run_dir, which)
    size = int(profile.image_size)
    teacher, student, teacher_from = _predictors(run_dir, which, size, device)
    probs, inputs = _predict({"teacher": teacher, "student": student}, dataset, ids, batch_size)
    gt = _ground_truth(dataset, ids, size)
    lengths = {i: int(mask.sum()) for i, (_, _, mask) in inputs.items()}
    records, params = _image_records(dataset, run_dir, ids, probs, gt, size, lengths)
    info = {"run_dir": str(run_dir), "teacher": teacher_from, "student": f"student/checkpoints/{which}.pt",
            "image_size": size, "images": len(ids), "ground_truth": gt is not None,
            "fusion": bool(getattr(teacher.network, "use_fusion", False)), "gaze_source": params.get("gaze_source")}
    return Inspection(records, teacher=teacher.network, inputs=inputs, info=info)
