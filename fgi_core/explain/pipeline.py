"""Stage 2 over a dataset: explain every image, encode the explanations, cache both.

Writes, under ``<run_dir>/explain/``::

    explanations.jsonl     one Explanation per line (id, fields, status, reason, raw text,
                           backend, model, prompt version, attempts, extra), in id order
    embeddings.npz         one float32 L x D array per image id (the encoder's token sequence)
    embeddings_index.json  per id: the encoded text's sha256, L, and each field's token span
    manifest.json          backend, model, prompt version, encoder (name, D, max L), counts per
                           status; written last, its presence marks completion

Reuse and resume: an explanation is reused when its backend, model and prompt version match
the request; an embedding when the encoded text and the encoder match. Explanations are
appended to ``explanations.jsonl`` batch by batch (flushed), so an interrupted run loses at most
one batch; the file is rewritten in id order at the end.

Invalid model output is never silently replaced. ``on_invalid`` says what happens:
``"keep"`` (default: the record stays invalid and its text is empty, so the teacher sees only
the encoder's special tokens), ``"fallback"`` (the describer's explanation is used instead, and
the record keeps the invalid output under ``extra["replaced"]``), or ``"fail"`` (stop, naming
the images). Retrying is the backend's option (``retries=`` of the transformers explainer).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..registry import look_up_option
from ..io import atomic_path, read_json, write_json
from .records import ExplainItem, Explanation

__all__ = [
    "ExplainStageResult",
    "run_explain_stage",
    "load_explanations",
    "load_text_embeddings",
    "explain_items",
    "text_for",
    "INVALID_POLICIES",
]

INVALID_POLICIES = ("keep", "fallback", "fail")


@dataclass
class ExplainStageResult:
    """What :func:`run_explain_stage` made.

    Attributes:
        explain_dir: ``<run_dir>/explain``.
        explanations: id -> :class:`Explanation`.
        manifest: the ``manifest.json`` content.
        reused: how many explanations and embeddings were taken from an earlier run.
        seconds: wall time of explaining and of encoding.
    """

    explain_dir: Path
    explanations: dict[str, Explanation]
    manifest: dict[str, Any]
    reused: dict[str, int]
    seconds: dict[str, float]


def text_for(explanation: Explanation) -> tuple[str, dict[str, tuple[int, int]]]:
    """The text the encoder sees for one explanation, and each field's character span.

    An invalid explanation has no fields: its text is empty (no spans).
    """
    from .schema import field_char_spans, render_text

    if explanation.fields is None:
        return "", {}
    return render_text(explanation.fields), field_char_spans(explanation.fields)


def explain_items(dataset, run_dir: str | Path, ids: Iterable[str]) -> Iterable[ExplainItem]:
    """ExplainItems for ``ids``: images and stage-1 gaze outputs read from ``run_dir/gaze``.

    Reads no ground truth (a test guards this).

    Raises:
        FileNotFoundError: when stage 1's outputs are missing (names the notebook to run).
    """
    from ..gaze import load_gaze_maps, points_for, read_fixations

    run_dir = Path(run_dir)
    params_path = run_dir / "gaze" / "params.json"
    if not params_path.is_file():
        raise FileNotFoundError(f"{params_path} is missing: run notebooks/01_gaze_preprocessing.ipynb for this run first")
    params = read_json(params_path)
    ids = list(ids)
    frame, _ = read_fixations(params["gaze_csv"], image_ids=ids)
    for image_id in ids:
        maps = load_gaze_maps(run_dir, image_id)
        yield ExplainItem(
            id=image_id,
            image=dataset.image_rgb(image_id),
            modality=dataset.modality,
            points=points_for(frame, image_id),
            simulated_gaze=bool(params.get("simulated", False)),
            **maps,
        )


def load_explanations(run_dir: str | Path) -> dict[str, Explanation]:
    """id -> Explanation from ``explain/explanations.jsonl`` (the last line of an id wins)."""
    path = Path(run_dir) / "explain" / "explanations.jsonl"
    out: dict[str, Explanation] = {}
    if not path.is_file():
        return out
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = Explanation.from_dict(json.loads(line))
        except (json.JSONDecodeError, TypeError) as err:
            if n == len(lines):  # the last line, cut by a crash mid-write: all before it is intact
                break
            raise ValueError(f"{path} line {n}: not an explanation record ({err})") from None
        out[rec.id] = rec
    return out


def load_text_embeddings(run_dir: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(id -> float32 L x D token embeddings, index with each id's token spans and text hash).

    Raises:
        FileNotFoundError: naming the notebook that makes them.
    """
    explain_dir = Path(run_dir) / "explain"
    if not (explain_dir / "manifest.json").is_file():
        raise FileNotFoundError(f"{explain_dir / 'manifest.json'} is missing: run notebooks/02_vlm_explanation.ipynb for this run first")
    with np.load(explain_dir / "embeddings.npz") as data:
        arrays = {k: data[k] for k in data.files}
    return arrays, read_json(explain_dir / "embeddings_index.json")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _append_jsonl(path: Path, records: list[Explanation]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r.to_dict(), default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def run_explain_stage(
    dataset,
    run_dir: str | Path,
    ids: Iterable[str] | None = None,
    explainer: str = "describer",
    explainer_kwargs: dict[str, Any] | None = None,
    encoder: str = "minilm",
    encoder_kwargs: dict[str, Any] | None = None,
    on_invalid: str = "keep",
    batch_size: int = 8,
    progress: bool = True,
) -> ExplainStageResult:
    """Explain and encode ``ids`` of ``dataset``; write everything to ``<run_dir>/explain``.

    Args:
        dataset: a :class:`fgi_core.data.SegmentationDataset` (its images; never its masks).
        run_dir: the run folder; stage 1's ``gaze/`` must be there.
        ids: images (default: those stage 1 processed, from ``gaze/manifest.json``).
        explainer: ``describer`` (offline default), ``transformers`` or ``jsonl``.
        explainer_kwargs: passed to :func:`fgi_core.explain.backends.create_explainer`
            (e.g. ``model=`` for transformers, ``path=`` for jsonl, ``retries=``).
        encoder: text encoder name (``minilm`` default, ``roberta-base``, hub id or folder).
        encoder_kwargs: passed to :func:`fgi_core.explain.encode.create_text_encoder`.
        on_invalid: ``keep``, ``fallback`` or ``fail`` (module docstring).
        batch_size: images per explainer call (and per append to the JSONL file).
        progress: show progress bars.

    Raises:
        RuntimeError: ``on_invalid="fail"`` and some outputs were invalid (names them).
    """
    from .backends import create_explainer
    from .encode import create_text_encoder

    look_up_option(on_invalid, INVALID_POLICIES, "on_invalid policy")
    run_dir = Path(run_dir)
    explain_dir = run_dir / "explain"
    explain_dir.mkdir(parents=True, exist_ok=True)
    ids = _stage_ids(run_dir, ids)
    (explain_dir / "manifest.json").unlink(missing_ok=True)

    # 1. explanations: reuse what matches, explain the rest batch by batch
    backend = create_explainer(explainer, **(explainer_kwargs or {}))
    fallback = create_explainer("describer") if on_invalid == "fallback" and explainer != "describer" else None
    explanations, explained, t_explain = _explain(dataset, run_dir, ids, backend, fallback, batch_size, progress)
    invalid = [i for i, r in explanations.items() if r.status == "invalid"]
    if invalid and on_invalid == "fail":
        raise RuntimeError(f"{len(invalid)} of {len(ids)} explanations are invalid (on_invalid='fail'): {invalid[:10]}; "
                           f"reasons: {[explanations[i].reason for i in invalid[:3]]}")
    with atomic_path(explain_dir / "explanations.jsonl") as tmp:  # rewrite in id order, one line per id
        tmp.write_text("".join(json.dumps(explanations[i].to_dict(), default=str) + "\n" for i in ids), encoding="utf-8")

    # 2. embeddings: reuse when the text and the encoder match
    text_encoder = create_text_encoder(encoder, **(encoder_kwargs or {}))
    entries, encoded, t_encode = _encode(explain_dir, ids, explanations, text_encoder)

    manifest = _manifest(backend, text_encoder.describe(), entries, explanations, ids, on_invalid, dataset,
                         {"explain": t_explain, "encode": t_encode})
    write_json(explain_dir / "manifest.json", manifest)
    reused = {"explanations": len(ids) - explained, "embeddings": len(ids) - encoded}
    return ExplainStageResult(explain_dir, explanations, manifest, reused, {"explain": t_explain, "encode": t_encode})


def _stage_ids(run_dir: Path, ids: Iterable[str] | None) -> list[str]:
    """``ids``, or the images stage 1 processed (``gaze/manifest.json``)."""
    if ids is None:
        manifest_path = run_dir / "gaze" / "manifest.json"
        if not manifest_path.is_file():
            raise FileNotFoundError(f"{manifest_path} is missing: run notebooks/01_gaze_preprocessing.ipynb for this run first")
        ids = read_json(manifest_path)["ids"]
    return list(ids)


def _explain(dataset, run_dir: Path, ids: list[str], backend, fallback, batch_size: int,
             progress: bool) -> tuple[dict[str, Explanation], int, float]:
    """id -> Explanation of every id (reused when backend, model and prompt match), how many were
    explained now and the seconds it took; new ones are appended to ``explanations.jsonl`` batch
    by batch."""
    from ..progress import tqdm

    from .schema import PROMPT_VERSION

    jsonl = run_dir / "explain" / "explanations.jsonl"
    previous = load_explanations(run_dir)
    done = {
        i: r for i, r in previous.items()
        if i in set(ids) and r.backend == backend.name and r.model == backend.model and r.prompt_version == PROMPT_VERSION
    }
    todo = [i for i in ids if i not in done]
    t0 = time.perf_counter()
    bar = tqdm(total=len(todo), desc=f"explain ({backend.name})", disable=not progress or not todo, unit="img")
    items_iter = explain_items(dataset, run_dir, todo)
    while True:
        batch = [item for _, item in zip(range(batch_size), items_iter)]
        if not batch:
            break
        records = backend.explain(batch)
        if fallback is not None:
            bad = [k for k, r in enumerate(records) if r.status == "invalid"]
            if bad:
                replacements = fallback.explain([batch[k] for k in bad])
                for k, rep in zip(bad, replacements):
                    rep.extra["replaced"] = records[k].to_dict()
                    records[k] = rep
        _append_jsonl(jsonl, records)
        done.update({r.id: r for r in records})
        bar.update(len(batch))
    bar.close()
    return {i: done[i] for i in ids}, len(todo), time.perf_counter() - t0


def _encode(explain_dir: Path, ids: list[str], explanations: dict[str, Explanation], text_encoder) -> tuple[dict, int, float]:
    """Write ``embeddings.npz`` and ``embeddings_index.json``; return the index entries, how many
    texts were encoded now (the others are reused when the text and the encoder match) and the
    seconds the encoding took."""
    enc_desc = text_encoder.describe()
    index_path, npz_path = explain_dir / "embeddings_index.json", explain_dir / "embeddings.npz"
    old_index = read_json(index_path) if index_path.is_file() else {}
    old_arrays: dict[str, np.ndarray] = {}
    if npz_path.is_file() and old_index.get("encoder") == enc_desc:
        with np.load(npz_path) as data:
            old_arrays = {k: data[k] for k in data.files}
    texts = {i: text_for(explanations[i]) for i in ids}
    entries, arrays, to_encode = {}, {}, []
    for i in ids:
        old = old_index.get("images", {}).get(i)
        if old is not None and i in old_arrays and old["text_sha256"] == _sha(texts[i][0]):
            entries[i], arrays[i] = old, old_arrays[i]
        else:
            to_encode.append(i)
    t0 = time.perf_counter()
    if to_encode:
        encoded = text_encoder.encode([texts[i][0] for i in to_encode], char_spans=[texts[i][1] for i in to_encode])
        for i, e in zip(to_encode, encoded):
            arrays[i] = e.tokens.astype(np.float32)
            entries[i] = {"text_sha256": _sha(texts[i][0]), "length": int(e.tokens.shape[0]),
                          "token_spans": {k: list(v) for k, v in e.token_spans.items()}}
    seconds = time.perf_counter() - t0
    with atomic_path(npz_path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **{i: arrays[i] for i in ids})
    write_json(index_path, {"encoder": enc_desc, "images": entries})
    return entries, len(to_encode), seconds


def _manifest(backend, enc_desc: dict, entries: dict, explanations: dict[str, Explanation], ids: list[str],
              on_invalid: str, dataset, seconds: dict[str, float]) -> dict[str, Any]:
    """``manifest.json``: what made the explanations and embeddings, and how they turned out."""
    from .schema import PROMPT_VERSION

    statuses = {s: sum(r.status == s for r in explanations.values()) for s in ("ok", "repaired", "invalid")}
    return {
        "backend": backend.describe(),
        "prompt_version": PROMPT_VERSION,
        "encoder": enc_desc,
        "dim": int(enc_desc["dim"]),
        "max_length": max(e["length"] for e in entries.values()) if entries else 0,
        "images": len(ids),
        "status_counts": statuses,
        "on_invalid": on_invalid,
        "simulated_gaze": bool(dataset.simulated_gaze),
        "seconds": seconds,
        "ids": ids,
    }
