"""Explainers: the backends of stage 2, behind one interface and chosen by name.

An :class:`Explainer` turns :class:`~fgi_core.explain.records.ExplainItem` s (an image, its
modality and the stage-1 *gaze* outputs; never a ground-truth mask) into
:class:`~fgi_core.explain.records.Explanation` s, one per item and in the same order::

    explainer = create_explainer(name, **kwargs)
    records = explainer.explain(items)        # list[Explanation]
    explainer.describe()                      # dict for the run's manifest

Every backend produces *text* and reads it with :func:`fgi_core.explain.schema.parse`, so the
status (``ok`` / ``repaired`` / ``invalid``), the snapping to the vocabulary and the reason are
the same whatever made the text; ``raw_text`` keeps the text exactly as produced.

Backends (:func:`create_explainer`, from the registry :data:`EXPLAINERS`: :func:`register_explainer`,
:func:`list_explainers`):

* ``"transformers"`` -- :class:`TransformersExplainer`: any Hugging Face image-text-to-text
  model (Qwen2-VL / Qwen2.5-VL, LLaVA, Idefics3 / SmolVLM, ...) by hub id or local folder,
  loaded with ``AutoProcessor`` + ``AutoModelForImageTextToText``; the prompt is
  :func:`~fgi_core.explain.schema.build_prompt` of the item's modality; batched greedy
  generation by default, with optional seeded sampling retries for invalid answers.
* ``"jsonl"`` -- :class:`JsonlExplainer`: imports descriptions made elsewhere (GPT-4o,
  Doubao-1.5-Vision-Pro, ...) from a JSON-lines file keyed by image id.
* ``"describer"`` -- :class:`DescriberExplainer`: the offline default. A MEASUREMENT-BASED
  STAND-IN for a VLM, not a VLM: it measures each field from the image and the gaze outputs
  and writes them as the JSON a model would. Its records say so (``model`` and
  ``extra["note"]``).

Policy: an answer that cannot be read is returned as an ``invalid`` record with its reason and
raw text; nothing is silently replaced or invented, and ``explain`` does not raise for bad model
text. What to do with invalid records (keep, fall back to the describer, fail) is the caller's
decision (``fgi_core.explain.pipeline.run_explain_stage(on_invalid=...)``); retrying is an option
of the transformers backend (``retries=``).

Examples:
    >>> from fgi_core.explain.backends import create_explainer
    >>> describer = create_explainer("describer")                       # offline, no weights
    >>> describer.model
    'measurement-based describer (not a VLM)'
    >>> vlm = create_explainer("transformers", model="Qwen/Qwen2-VL-2B-Instruct",
    ...                        retries=1)                                # doctest: +SKIP
    >>> imported = create_explainer("jsonl", path="gpt4o.jsonl")       # doctest: +SKIP
    >>> records = imported.explain(items)                               # doctest: +SKIP
    >>> imported.report["missing"]                                      # doctest: +SKIP
    []
"""
from __future__ import annotations

import abc
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from fgi_core.config import look_up_option, resolve_device
from fgi_core.registry import Registry

from . import schema
from .hub import local_only_kwargs, looks_like_path, quiet_loading
from .measures import BOUNDARY_THRESHOLDS, boundary_class, edge_measures, grey_image, solidity
from .records import ExplainItem, Explanation

__all__ = [
    "Explainer",
    "TransformersExplainer",
    "JsonlExplainer",
    "DescriberExplainer",
    "VLMUnavailableError",
    "EXPLAINERS",
    "register_explainer",
    "list_explainers",
    "DESCRIBER_MODEL",
    "DESCRIBER_NOTE",
    "create_explainer",
]

log = logging.getLogger(__name__)

#: Explainer name -> class, for :func:`create_explainer`.
EXPLAINERS: Registry = Registry("explainer")


def register_explainer(name: str):
    """Class decorator: make an :class:`Explainer` constructible by ``create_explainer(name, ...)``."""
    return EXPLAINERS.register(name)


def list_explainers() -> list[str]:
    """The explainer names :func:`create_explainer` takes."""
    return EXPLAINERS.names()


class Explainer(abc.ABC):
    """One way of turning ExplainItems into Explanations.

    Attributes:
        name: backend name (``transformers``, ``jsonl``, ``describer``); stored in each record.
        model: what made the text (hub id / folder, file, or the describer's label).
    """

    name: str = ""
    model: str = ""

    @abc.abstractmethod
    def explain(self, items: Sequence[ExplainItem]) -> list[Explanation]:
        """One Explanation per item, in the same order. Never raises for bad model text:
        unreadable output comes back as ``status="invalid"`` with the reason and raw text."""

    def describe(self) -> dict[str, Any]:
        """What made the explanations, for the run's manifest (JSON-serialisable)."""
        return {"name": self.name, "model": self.model, "prompt_version": schema.PROMPT_VERSION}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r})"

    # -- shared helper -------------------------------------------------------------------------
    def _record(
        self,
        item: ExplainItem,
        text: str | None,
        attempts: int = 1,
        extra: dict[str, Any] | None = None,
        prompt_version: str | None = None,
    ) -> Explanation:
        """Parse ``text`` for ``item`` with :func:`schema.parse` and wrap it as an Explanation."""
        raw = "" if text is None else str(text)
        try:
            fields, status, reason = schema.parse(raw, item.modality)
        except ValueError:  # an unknown modality is the caller's error, not the model's
            raise
        except Exception as err:  # noqa: BLE001 - bad model text must never stop a run
            fields, status, reason = None, "invalid", f"parser error: {type(err).__name__}: {err}"
        return Explanation(
            id=item.id,
            fields=fields,
            status=status,
            reason=reason,
            raw_text=raw,
            backend=self.name,
            model=self.model,
            prompt_version=prompt_version or schema.PROMPT_VERSION,
            attempts=int(attempts),
            extra={"simulated_gaze": bool(item.simulated_gaze), **(extra or {})},
        )


# ==============================================================================================
# transformers
# ==============================================================================================
class VLMUnavailableError(OSError):
    """The VLM's weights or processor cannot be loaded (not cached, offline, bad folder)."""


_HOW_TO_GET_VLM = (
    "On a machine with internet, download it into the Hugging Face cache with "
    "`hf download {id}` (older huggingface_hub: `huggingface-cli download {id}`) and copy the "
    "cache (~/.cache/huggingface, or $HF_HOME) here; or save model and processor to a folder "
    "(AutoModelForImageTextToText / AutoProcessor .save_pretrained) and pass "
    "model='/path/to/folder'. Without any VLM, use create_explainer('describer') (offline "
    "stand-in) or import descriptions made elsewhere with create_explainer('jsonl', path=...)."
)


def _torch_dtype(dtype: Any, device: str):
    import torch

    if dtype is None or dtype == "auto":
        kind = device.split(":")[0]
        return torch.bfloat16 if kind == "cuda" else torch.float16 if kind == "mps" else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16, "half": torch.float16}
    return names[look_up_option(str(dtype).replace("torch.", ""), names, "dtype")]


def _check_generation_args(batch_size: Any, max_new_tokens: Any, retries: Any, temperature: Any) -> None:
    """Raise ValueError, naming the argument, for a batch size or a token budget below 1,
    negative retries or a temperature that is not positive."""
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    if int(max_new_tokens) < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens!r}")
    if int(retries) < 0:
        raise ValueError(f"retries must be >= 0, got {retries!r}")
    if float(temperature) <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")


def _vlm_folder(path: str) -> str:
    """The local VLM folder ``path`` (``~`` expanded), resolved.

    Raises:
        VLMUnavailableError: the folder does not exist or has no ``config.json``.
    """
    folder = Path(path).expanduser()
    if not (folder / "config.json").is_file():
        what = "not found" if not folder.is_dir() else "has no config.json"
        raise VLMUnavailableError(
            f"VLM folder {str(folder)!r} {what}; it must hold what save_pretrained writes for the "
            "model and its processor (config.json, weights, tokenizer and processor files). " + _HOW_TO_GET_VLM.format(id="<org/name>")
        )
    return str(folder.resolve())


def _vlm_load_error(model: str, path: str, is_local: bool, err: OSError | ImportError | ValueError) -> Exception:
    """The error for a VLM that ``from_pretrained`` could not load (``err``), by cause:
    VLMUnavailableError (files not found: how to get them), ImportError (a missing package),
    ValueError (not an image-text-to-text model)."""
    if isinstance(err, OSError):
        where = f"folder {path!r}" if is_local else f"hub id {path!r}: not in the local Hugging Face cache and it cannot be downloaded (HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '')!r})"
        return VLMUnavailableError(
            f"cannot load the VLM from {where}. " + _HOW_TO_GET_VLM.format(id=path if not is_local else "<org/name>")
            + f" [{type(err).__name__}: {err}]"
        )
    if isinstance(err, ImportError):  # e.g. a processor that needs torchvision / PIL
        return ImportError(f"loading the VLM {model!r} needs a package that is not installed: {err}")
    return ValueError(f"{model!r} cannot be loaded as an image-text-to-text model (AutoModelForImageTextToText): {err}")


@register_explainer("transformers")
class TransformersExplainer(Explainer):
    """A Hugging Face image-text-to-text model (VLM) asked with the fixed prompt.

    The model is loaded at construction with ``AutoProcessor.from_pretrained`` and
    ``AutoModelForImageTextToText.from_pretrained`` (transformers v5 names; ``dtype=`` rather than
    the removed ``torch_dtype=``), frozen in ``eval()`` mode. For each item the chat message is
    ``[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text":
    schema.build_prompt(item.modality)}]}]``, rendered by ``processor.apply_chat_template(...,
    add_generation_prompt=True)``; items are generated in batches with left padding and only
    the new tokens are decoded (special tokens skipped), then read by :func:`schema.parse`.

    Args:
        model: hub id (must be in the local cache when offline) or a local folder holding what
            ``save_pretrained`` writes for both the model and its processor.
        device: ``auto`` (cuda, mps, cpu), ``cpu``, ``cuda[:i]``, ``mps``.
        dtype: ``auto`` (bfloat16 on CUDA, float16 on MPS, float32 on CPU) or a dtype / name.
        batch_size: items per ``generate`` call.
        max_new_tokens: generated tokens per answer at most.
        do_sample: sample the first attempt too (default greedy, deterministic).
        temperature: sampling temperature (sampled attempts only).
        seed: seed of sampled attempts; attempt ``k`` (1-based) of a batch uses ``seed + k``.
        retries: when an answer is invalid, generate again up to this many more times with
            sampling on (seeded); ``Explanation.attempts`` counts the generations; earlier
            invalid outputs are kept under ``extra["previous_outputs"]``.
        max_image_side: images whose longer side exceeds this are downscaled first (keeps the
            number of image tokens bounded); None sends them as they are.
        progress: show transformers' weight-loading progress bar.
        local_files_only: passed to ``from_pretrained`` (default: True for local folders).

    Raises:
        VLMUnavailableError: the weights / processor cannot be found; the message says how to
            get them.
        ValueError: the checkpoint is not an image-text-to-text model or has no chat template.
    """

    name = "transformers"

    def __init__(
        self,
        model: str | os.PathLike,
        device: str = "auto",
        dtype: Any = "auto",
        batch_size: int = 4,
        max_new_tokens: int = 160,
        do_sample: bool = False,
        temperature: float = 0.7,
        seed: int = 0,
        retries: int = 0,
        max_image_side: int | None = 768,
        progress: bool = False,
        local_files_only: bool | None = None,
    ) -> None:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        _check_generation_args(batch_size, max_new_tokens, retries, temperature)
        self.model = os.fspath(model)
        self.device = resolve_device(device)
        self.torch_dtype = _torch_dtype(dtype, self.device)
        self.batch_size = int(batch_size)
        self.max_new_tokens = int(max_new_tokens)
        self.do_sample = bool(do_sample)
        self.temperature = float(temperature)
        self.seed = int(seed)
        self.retries = int(retries)
        self.max_image_side = None if max_image_side is None else int(max_image_side)

        path = self.model
        is_local = looks_like_path(path)
        if is_local:
            path = _vlm_folder(path)
        self.path = path
        kw = local_only_kwargs(is_local, local_files_only)
        try:
            with quiet_loading(progress):
                self.processor = AutoProcessor.from_pretrained(path, **kw)
                self.vlm = AutoModelForImageTextToText.from_pretrained(path, dtype=self.torch_dtype, **kw)
        except (OSError, ImportError, ValueError) as err:
            raise _vlm_load_error(self.model, path, is_local, err) from err
        self._prepare()
        self._torch = torch

    def _prepare(self) -> None:
        """After loading: refuse a processor without a tokenizer or a chat template; pad on the
        left (the EOS token pads when there is no pad token); freeze the VLM in ``eval()`` mode
        on ``self.device``."""
        if not hasattr(self.processor, "tokenizer"):
            raise ValueError(f"the processor of {self.model!r} ({type(self.processor).__name__}) has no tokenizer; a VLM processor is needed")
        if not (getattr(self.processor, "chat_template", None) or getattr(self.processor.tokenizer, "chat_template", None)):
            raise ValueError(
                f"{self.model!r} has no chat template (processor or tokenizer); an instruction-tuned VLM "
                "with a chat template is needed to build the prompt"
            )
        tok = self.processor.tokenizer
        tok.padding_side = "left"  # decoder-only generation: pad on the left
        if tok.pad_token_id is None and tok.eos_token_id is not None:
            tok.pad_token = tok.eos_token
        self.pad_token_id = tok.pad_token_id
        self.vlm.requires_grad_(False)
        self.vlm.eval()
        self.vlm.to(self.device)

    # ------------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "path": self.path,
            "model_class": type(self.vlm).__name__,
            "processor_class": type(self.processor).__name__,
            "device": self.device,
            "dtype": str(self.torch_dtype).replace("torch.", ""),
            "batch_size": self.batch_size,
            "max_new_tokens": self.max_new_tokens,
            "do_sample": self.do_sample,
            "temperature": self.temperature,
            "seed": self.seed,
            "retries": self.retries,
            "max_image_side": self.max_image_side,
        }

    def _pil(self, image: np.ndarray):
        from PIL import Image

        img = np.asarray(image)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        pil = Image.fromarray(np.ascontiguousarray(img.astype(np.uint8)), mode="RGB")
        if self.max_image_side and max(pil.size) > self.max_image_side:
            scale = self.max_image_side / max(pil.size)
            pil = pil.resize((max(1, round(pil.width * scale)), max(1, round(pil.height * scale))), Image.BICUBIC)
        return pil

    def _prompt(self, modality: str) -> str:
        message = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": schema.build_prompt(modality)}]}]
        return self.processor.apply_chat_template(message, add_generation_prompt=True, tokenize=False)

    def generate(self, items: Sequence[ExplainItem], sample: bool | None = None, seed: int | None = None) -> list[str]:
        """Raw answers (new tokens only, decoded) for ``items``, in one ``generate`` call."""
        torch = self._torch
        sample = self.do_sample if sample is None else bool(sample)
        texts = [self._prompt(item.modality) for item in items]
        images = [self._pil(item.image) for item in items]
        inputs = self.processor(images=images, text=texts, padding=True, return_tensors="pt")
        inputs = inputs.to(self.device, dtype=self.torch_dtype)
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": sample, "pad_token_id": self.pad_token_id}
        if sample:
            kwargs["temperature"] = self.temperature
            torch.manual_seed(self.seed if seed is None else int(seed))
        else:  # greedy: neutralise sampling knobs a checkpoint's generation_config may carry
            kwargs.update(temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            out = self.vlm.generate(**inputs, **kwargs)
        new = out[:, inputs["input_ids"].shape[1]:]
        return list(self.processor.batch_decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=False))

    def explain(self, items: Sequence[ExplainItem]) -> list[Explanation]:
        items = list(items)
        records: list[Explanation] = []
        gen = {"max_new_tokens": self.max_new_tokens}
        for start in range(0, len(items), self.batch_size):
            batch = items[start:start + self.batch_size]
            texts = self.generate(batch, seed=self.seed)
            recs = [self._record(it, t, 1, {"generation": {**gen, "do_sample": self.do_sample}}) for it, t in zip(batch, texts)]
            for attempt in range(1, self.retries + 1):
                todo = [k for k, r in enumerate(recs) if r.status == "invalid"]
                if not todo:
                    break
                again = self.generate([batch[k] for k in todo], sample=True, seed=self.seed + attempt)
                for k, text in zip(todo, again):
                    old = recs[k]
                    previous = old.extra.get("previous_outputs", []) + [{"raw_text": old.raw_text, "reason": old.reason}]
                    extra = {"generation": {**gen, "do_sample": True, "temperature": self.temperature, "seed": self.seed + attempt},
                             "previous_outputs": previous}
                    recs[k] = self._record(batch[k], text, attempt + 1, extra)
            records.extend(recs)
        return records


# ==============================================================================================
# jsonl
# ==============================================================================================
@register_explainer("jsonl")
class JsonlExplainer(Explainer):
    """Descriptions made elsewhere (GPT-4o, Doubao, a clinician ...), imported from JSON lines.

    One JSON object per line, keyed by image id, in either form::

        {"id": "cju0qkwl35piu0993l0dewei2", "text": "<the model's raw answer>"}
        {"id": "cju0qkwl35piu0993l0dewei2", "fields": {"Location": "upper-left", "Boundary": ...}}

    ``text`` is read exactly like a local model's answer (:func:`schema.parse`). ``fields`` is
    serialised with ``json.dumps`` and read the same way, so snapping and validation apply to it
    too (misspelt values are snapped and the record says ``repaired``; impossible ones make it
    ``invalid``). Optional keys: ``model`` (what made the description; kept as
    ``extra["source_model"]``) and ``prompt_version`` (recorded instead of
    ``schema.PROMPT_VERSION``, which is assumed otherwise); other keys are ignored. Blank lines
    are skipped. When an id appears twice the later line wins (reported; an error when strict).

    A requested id with no line gives an ``invalid`` record with reason ``"no description for
    this id in <file>"`` -- nothing is invented. ``report`` (after :meth:`explain`, cumulative
    over calls) and :meth:`coverage` list requested ids without a line and ids in the file never
    requested.

    Args:
        path: the ``.jsonl`` file.
        strict: raise on a malformed line (naming file and line number) instead of skipping it
            and listing it in ``report["skipped_lines"]``.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: (strict) a malformed line or a duplicate id.
    """

    name = "jsonl"

    def __init__(self, path: str | os.PathLike, strict: bool = False) -> None:
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise FileNotFoundError(f"description file not found: {str(self.path)!r}")
        self.path = self.path.resolve()
        self.strict = bool(strict)
        self.model = str(self.path)
        self.entries: dict[str, dict[str, Any]] = {}
        self.skipped_lines: list[dict[str, Any]] = []
        self.duplicate_ids: list[str] = []
        data = self.path.read_bytes()
        self.sha256 = hashlib.sha256(data).hexdigest()
        text = data.decode("utf-8-sig", errors="replace")
        self.n_lines = 0
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            self.n_lines += 1
            try:
                image_id, entry = self._read_line(line)
            except ValueError as err:
                message = f"{self.path} line {n}: {err}"
                if self.strict:
                    raise ValueError(message) from None
                self.skipped_lines.append({"line": n, "error": str(err)})
                log.warning("skipped %s", message)
                continue
            if image_id in self.entries:
                if self.strict:
                    raise ValueError(f"{self.path} line {n}: id {image_id!r} appears again (first on line {self.entries[image_id]['line']})")
                self.duplicate_ids.append(image_id)
            entry["line"] = n
            self.entries[image_id] = entry
        self._requested: list[str] = []
        self._requested_set: set[str] = set()

    @staticmethod
    def _read_line(line: str) -> tuple[str, dict[str, Any]]:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"not valid JSON ({err.msg} at column {err.colno})") from None
        if not isinstance(obj, dict):
            raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
        image_id = obj.get("id")
        if not isinstance(image_id, str) or not image_id:
            raise ValueError("no \"id\" (a non-empty string)")
        has_text, has_fields = "text" in obj, "fields" in obj
        if has_text == has_fields:
            raise ValueError("needs exactly one of \"text\" (the raw answer) or \"fields\" (an object)")
        if has_text:
            if not isinstance(obj["text"], str):
                raise ValueError(f"\"text\" must be a string, got {type(obj['text']).__name__}")
            raw = obj["text"]
        else:
            if not isinstance(obj["fields"], dict):
                raise ValueError(f"\"fields\" must be an object, got {type(obj['fields']).__name__}")
            raw = json.dumps(obj["fields"], ensure_ascii=False)
        entry: dict[str, Any] = {"raw_text": raw, "form": "text" if has_text else "fields"}
        if isinstance(obj.get("model"), str):
            entry["source_model"] = obj["model"]
        if isinstance(obj.get("prompt_version"), str):
            entry["prompt_version"] = obj["prompt_version"]
        return image_id, entry

    def coverage(self, ids: Iterable[str]) -> dict[str, Any]:
        """How the file covers ``ids``: ``requested``, ``found``, ``missing`` (requested, no
        line), ``unrequested`` (in the file, not requested), plus skipped lines / duplicates."""
        ids = list(dict.fromkeys(ids))
        wanted = set(ids)
        missing = [i for i in ids if i not in self.entries]
        return {
            "file": str(self.path),
            "lines": self.n_lines,
            "descriptions": len(self.entries),
            "requested": len(ids),
            "found": len(ids) - len(missing),
            "missing": missing,
            "unrequested": sorted(i for i in self.entries if i not in wanted),
            "skipped_lines": list(self.skipped_lines),
            "duplicate_ids": list(self.duplicate_ids),
        }

    @property
    def report(self) -> dict[str, Any]:
        """:meth:`coverage` of every id requested so far by :meth:`explain`."""
        return self.coverage(self._requested)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "path": str(self.path), "sha256": self.sha256, "lines": self.n_lines,
                "descriptions": len(self.entries), "skipped_lines": len(self.skipped_lines), "strict": self.strict}

    def explain(self, items: Sequence[ExplainItem]) -> list[Explanation]:
        records = []
        for item in items:
            if item.id not in self._requested_set:
                self._requested_set.add(item.id)
                self._requested.append(item.id)
            entry = self.entries.get(item.id)
            if entry is None:
                records.append(Explanation(
                    id=item.id, fields=None, status="invalid", reason=f"no description for this id in {self.path}",
                    raw_text="", backend=self.name, model=self.model, prompt_version=schema.PROMPT_VERSION,
                    attempts=0, extra={"simulated_gaze": bool(item.simulated_gaze), "missing": True},
                ))
                continue
            extra = {"line": entry["line"], "form": entry["form"]}
            if "source_model" in entry:
                extra["source_model"] = entry["source_model"]
            records.append(self._record(item, entry["raw_text"], 1, extra, prompt_version=entry.get("prompt_version")))
        return records


# ==============================================================================================
# describer
# ==============================================================================================
DESCRIBER_MODEL = "measurement-based describer (not a VLM)"
DESCRIBER_NOTE = (
    "Measurement-based stand-in for a VLM: every field is measured from the image and the stage-1 "
    "gaze outputs (fixations, refined map, M_hc, M_bc) with fixed rules; no ground truth is read "
    "and no language model is involved."
)

#: Rules and cut-offs of :class:`DescriberExplainer` (recorded in ``describe()``).
DESCRIBER_THRESHOLDS: dict[str, float] = {
    # Boundary
    "region_level": 0.5,            # the region R is refined >= 0.5
    **BOUNDARY_THRESHOLDS,          # solidity, edge strength and width: fgi_core.explain.measures
    # Confidence
    "confidence_high_inside": 0.75,  # fraction of fixation time inside R
    "confidence_medium_inside": 0.50,
    "confidence_max_spread": 1.5,    # fixation spread / region radius above this lowers one level
    # Characteristics, endoscopy (inside M_hc minus the ring around M_bc, medians)
    "endo_reddish_dr": 0.02,         # delta red chromaticity R/(R+G+B) at least -> reddish mucosal protrusion
    "endo_pale_dr": -0.02,           # delta red chromaticity at most -> pale mucosal protrusion
    "endo_lobulated_solidity": 0.85,  # M_hc solidity below -> lobulated mass
    "endo_flat_contrast": 4.0,       # colour difference (delta E) below -> flat lesion
    # Characteristics, MRI (grey levels 0..255)
    "mri_heterogeneous_std": 12.0,   # std inside at least ... and
    "mri_heterogeneous_ratio": 1.5,  # ... that many times the std around -> heterogeneous signal
    "mri_intensity_delta": 10.0,     # |mean inside - mean around| at least -> hyper / hypointense
    # Characteristics, dermoscopy (CIE L*a*b*, inside M_hc)
    "derm_pink_hue_max": 30.0,       # hue angle atan2(b*, a*) in degrees below this and
    "derm_pink_lightness_min": 55.0,  # ... L* above this -> pink lesion
    "derm_variegated_std": 10.0,     # colour spread (RMS delta E to the mean) at least -> variegated
    "derm_uniform_std": 5.0,         # colour spread below -> uniformly pigmented
    "derm_dark_lightness": 45.0,     # L* below -> dark brown, else light brown
}


def _weighted_centroid(weights: np.ndarray) -> tuple[float, float] | None:
    total = float(weights.sum())
    if total <= 0:
        return None
    h, w = weights.shape
    ys, xs = np.mgrid[0:h, 0:w]
    return float((weights * (xs + 0.5)).sum() / total / w), float((weights * (ys + 0.5)).sum() / total / h)


def _fixations(points: Any) -> np.ndarray | None:
    """N x 3 fixations with finite values and a positive duration; None when there are none."""
    if points is None:
        return None
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1) & (pts[:, 2] > 0)]
    return pts if len(pts) else None


def _remarks(confidence: str, location: str, descriptor: str, boundary: str, area_fraction: float) -> str:
    """The Remarks sentence, from the other fields' measurements."""
    focus = {"high": "concentrated on", "medium": "mostly on", "low": "scattered around"}[confidence]
    where = "the center" if location == "center" else f"the {location}"
    pct = max(1, int(round(area_fraction * 100)))
    return f"Gaze {focus} a {descriptor}, {boundary} region in {where}; about {pct}% of the image (measured, not a VLM)."


def _lab(image: np.ndarray) -> np.ndarray:
    """float32 CIE L*a*b* (L* 0..100, a*, b* about -128..127) of a uint8 RGB image."""
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(image, dtype=np.float32) / np.float32(255.0), cv2.COLOR_RGB2LAB)


def _ring(mask: np.ndarray, width: int) -> np.ndarray:
    """Pixels outside ``mask`` within ``width`` pixels of it (the surroundings)."""
    import cv2

    dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
    return (~mask) & (dist <= width)


def _f(x: Any) -> float | None:
    """JSON-friendly float (None for NaN)."""
    x = float(x)
    return None if not np.isfinite(x) else round(x, 4)


@register_explainer("describer")
class DescriberExplainer(Explainer):
    """The offline default: a MEASUREMENT-BASED STAND-IN for a VLM (it is not a VLM).

    Every field is *measured* from the image and the stage-1 gaze outputs of the item only
    (fixations, heatmap, refined map, M_hc, M_bc); it never reads a ground-truth mask (an
    ExplainItem has none). The answer is written as the JSON text a VLM would give
    (``raw_text``) and read with :func:`schema.parse` like any model's (status ``ok``). Records
    carry ``model = "measurement-based describer (not a VLM)"``, ``extra["note"]`` saying so,
    and the raw numbers in ``extra["measurements"]``. Cut-offs: :data:`DESCRIBER_THRESHOLDS`.

    Region: R = ``refined >= 0.5`` (falling back to M_hc, M_bc, then ``heatmap >= 0.5``); an
    item with none of them is returned ``invalid`` with the reason. Missing M_hc / M_bc fall
    back to R.

    Fields:

    * **Location** -- :func:`schema.location_cell` of the duration-weighted fixation centroid;
      without fixations, of the refined map's (value-weighted) centroid.
    * **Area Percentage** -- :func:`schema.area_bin` of ``M_bc.mean()``.
    * **Boundary** -- ``irregular`` when R's solidity (area / convex-hull area) < 0.80;
      otherwise ``well-defined`` when the edge along R's contour is both *strong* and *sharp*,
      else ``ill-defined``. On the grey image (lightly smoothed, sigma 1 px) the Sobel gradient
      magnitude (grey levels per pixel) is taken at R's contour pixels, each as the largest
      value within ``r = max(1, 1.5 % of the short side)`` px (tolerates a contour a few pixels
      off the edge); g_edge is their median. *Strong*: g_edge / max(median gradient of the
      image, 0.5) >= 3. *Sharp*: the ramp width ``step / g_edge`` -- step being the difference
      of the median grey levels in the rings k..2k px inside and outside the contour,
      ``k = max(2, 4 % of the short side)`` -- is at most 5 % of the image's short side (a step
      blurred by a Gaussian of sigma s has width ~2.5 s).
    * **Characteristics** -- colour / intensity inside M_hc against the ring of pixels within
      ``max(3, 8 % of the short side)`` px around M_bc (medians; CIE L*a*b*):

      - endoscopy (red chromaticity r = R / (R + G + B), robust to the uneven illumination):
        delta r >= +0.02 -> ``reddish mucosal protrusion``; delta r <= -0.02 (paler, whiter or
        yellower than the mucosa) -> ``pale mucosal protrusion``; M_hc solidity < 0.85 ->
        ``lobulated mass``; delta E (L*a*b*) < 4 -> ``flat lesion``; otherwise ``sessile
        polyp`` (``pedunculated polyp`` needs a stalk, which is not measured: never chosen);
      - mri (grey levels): std inside >= 12 and >= 1.5 x the std around -> ``heterogeneous
        signal``; mean inside - mean around >= +10 -> ``hyperintense region``, <= -10 ->
        ``hypointense region``; otherwise ``homogeneous signal gland``;
      - dermoscopy: hue angle atan2(b*, a*) < 30 deg and L* > 55 -> ``pink lesion``; colour
        spread (RMS delta E to the mean colour) >= 10 -> ``variegated pigmentation``; < 5 ->
        ``uniformly pigmented lesion``; otherwise L* < 45 -> ``dark brown lesion``, else
        ``light brown lesion``.
    * **Confidence** -- from gaze concentration: f = share of fixation time inside R (without
      fixations: share of the heatmap's mass inside R); ``high`` if f >= 0.75, ``medium`` if
      f >= 0.5, else ``low``; lowered one level when the fixations' duration-weighted RMS
      distance from their centroid exceeds 1.5 x R's equivalent radius sqrt(area / pi).
    * **Remarks** -- a templated sentence from the measurements, e.g. "Gaze concentrated on a
      reddish, well-defined region in the upper-left; about 12% of the image (measured, not a
      VLM)."
    """

    name = "describer"
    model = DESCRIBER_MODEL

    def __init__(self) -> None:
        self.thresholds = dict(DESCRIBER_THRESHOLDS)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "note": DESCRIBER_NOTE, "thresholds": dict(self.thresholds)}

    def explain(self, items: Sequence[ExplainItem]) -> list[Explanation]:
        records = []
        for item in items:
            try:
                fields, measurements = self.measure(item)
            except _MissingInput as err:
                records.append(Explanation(
                    id=item.id, fields=None, status="invalid", reason=str(err), raw_text="", backend=self.name,
                    model=self.model, prompt_version=schema.PROMPT_VERSION, attempts=1,
                    extra={"simulated_gaze": bool(item.simulated_gaze), "note": DESCRIBER_NOTE},
                ))
                continue
            raw = json.dumps(fields, ensure_ascii=False)
            records.append(self._record(item, raw, 1, {"note": DESCRIBER_NOTE, "measurements": measurements}))
        return records

    # ------------------------------------------------------------------------------------------
    def measure(self, item: ExplainItem) -> tuple[dict[str, str], dict[str, Any]]:
        """The six fields of ``item`` and the measurements behind them, one step per field."""
        image, maps = self._inputs(item)
        region_source, region, hc, bc = self._region(maps)
        m: dict[str, Any] = {"region_source": region_source, "region_fraction": _f(region.mean())}
        points = _fixations(item.points)
        location, centroid = self._location(points, maps, region, m)
        area_fraction = float(bc.mean())
        m["area_fraction_m_bc"] = _f(area_fraction)
        grey = grey_image(image)
        boundary = self._boundary(grey, region, m)
        characteristics, descriptor = self._characteristics_around(item.modality, image, grey, hc, bc, m)
        confidence = self._confidence(points, maps, region, centroid, m)
        fields = {
            "Location": location,
            "Boundary": boundary,
            "Characteristics": characteristics,
            "Area Percentage": schema.area_bin(area_fraction),
            "Confidence": confidence,
            "Remarks": _remarks(confidence, location, descriptor, boundary, area_fraction),
        }
        return fields, m

    @staticmethod
    def _inputs(item: ExplainItem) -> tuple[np.ndarray, dict[str, np.ndarray | None]]:
        """The item's uint8 H x W x 3 image and its gaze maps (``refined``, ``heatmap``, ``m_hc``,
        ``m_bc``; None where missing), each checked to be H x W."""
        image = np.asarray(item.image)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] != 3:
            raise _MissingInput(f"describer: image must be H x W x 3, got shape {image.shape}")
        image = image.astype(np.uint8, copy=False)
        h, w = image.shape[:2]
        maps = {}
        for name in ("refined", "heatmap", "m_hc", "m_bc"):
            a = getattr(item, name)
            if a is not None:
                a = np.asarray(a)
                if a.shape != (h, w):
                    raise _MissingInput(f"describer: {name} has shape {a.shape}, the image {(h, w)}")
            maps[name] = a
        return image, maps

    def _region(self, maps: dict[str, np.ndarray | None]) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
        """(source, R, the M_hc used, the M_bc used): R = refined >= 0.5, else M_hc, M_bc,
        heatmap >= 0.5; a missing or empty M_hc / M_bc is replaced by R."""
        refined, heat, m_hc, m_bc = maps["refined"], maps["heatmap"], maps["m_hc"], maps["m_bc"]
        level = self.thresholds["region_level"]
        candidates = [
            ("refined >= 0.5", None if refined is None else refined >= level),
            ("m_hc", None if m_hc is None else m_hc > 0),
            ("m_bc", None if m_bc is None else m_bc > 0),
            ("heatmap >= 0.5", None if heat is None else heat >= level),
        ]
        region_source, region = next(((n, r) for n, r in candidates if r is not None and r.any()), (None, None))
        if region is None:
            raise _MissingInput(
                "describer: no gaze region to describe (refined, m_hc, m_bc and heatmap are all missing or empty); "
                "run the gaze stage first"
            )
        hc = m_hc > 0 if m_hc is not None and m_hc.any() else region
        bc = m_bc > 0 if m_bc is not None and m_bc.any() else region
        return region_source, region, hc, bc

    @staticmethod
    def _location(points: np.ndarray | None, maps: dict, region: np.ndarray, m: dict) -> tuple[str, tuple[float, float]]:
        """Location: the cell of the duration-weighted fixation centroid (else of the refined map's)."""
        refined, heat = maps["refined"], maps["heatmap"]
        if points is not None:
            wts = points[:, 2] / points[:, 2].sum()
            cx, cy = float(np.clip(wts @ points[:, 0], 0, 1)), float(np.clip(wts @ points[:, 1], 0, 1))
            m["location_source"] = "duration-weighted gaze centroid"
        else:
            weights = refined if refined is not None else heat if heat is not None else region.astype(np.float32)
            cx, cy = _weighted_centroid(np.clip(weights.astype(np.float64), 0, None)) or _weighted_centroid(region.astype(np.float64))
            m["location_source"] = "refined-map centroid" if refined is not None else "map centroid"
        m["centroid"] = [_f(cx), _f(cy)]
        return schema.location_cell(cx, cy), (cx, cy)

    def _boundary(self, grey: np.ndarray, region: np.ndarray, m: dict) -> str:
        """Boundary: the rule of :mod:`fgi_core.explain.measures` on R's contour."""
        t = self.thresholds
        e = edge_measures(grey, region, t["gradient_floor"])
        m.update({k: _f(e[k]) for k in ("edge_gradient", "image_median_gradient", "edge_strength", "edge_step",
                                        "edge_width_px", "edge_width", "solidity")})
        return boundary_class(e, t)

    def _characteristics_around(self, modality: str, image: np.ndarray, grey: np.ndarray, hc: np.ndarray,
                                bc: np.ndarray, m: dict) -> tuple[str, str]:
        """Characteristics of M_hc against the ring of ``max(3, 8 % of the short side)`` px around M_bc."""
        ring = _ring(bc, max(3, int(round(0.08 * min(image.shape[:2])))))
        if not ring.any():
            ring = ~hc
        if not ring.any():
            ring = np.ones_like(hc)
        characteristics, descriptor, cm = self._characteristics(modality, image, grey, hc, ring)
        m.update(cm)
        return characteristics, descriptor

    def _confidence(self, points: np.ndarray | None, maps: dict, region: np.ndarray, centroid: tuple[float, float],
                    m: dict) -> str:
        """Confidence from the share of gaze inside R, lowered one level for a wide gaze spread."""
        t = self.thresholds
        h, w = region.shape
        cx, cy = centroid
        radius = float(np.sqrt(region.sum() / np.pi))
        if points is not None:
            from ..gaze.coords import pixel_indices

            yi, xi = pixel_indices(points[:, 0], points[:, 1], h, w)
            wts = points[:, 2] / points[:, 2].sum()
            inside = float(wts[region[yi, xi]].sum())
            dx, dy = points[:, 0] * w - cx * w, points[:, 1] * h - cy * h
            spread = float(np.sqrt(wts @ (dx * dx + dy * dy)))
            m["confidence_source"] = "fixation time inside R"
        else:
            heat, refined = maps["heatmap"], maps["refined"]
            mass = np.clip((heat if heat is not None else refined if refined is not None else region).astype(np.float64), 0, None)
            total = float(mass.sum())
            inside = float(mass[region].sum() / total) if total > 0 else 0.0
            ys, xs = np.mgrid[0:h, 0:w]
            spread = float(np.sqrt((mass * ((xs + 0.5 - cx * w) ** 2 + (ys + 0.5 - cy * h) ** 2)).sum() / total)) if total > 0 else float("inf")
            m["confidence_source"] = "map mass inside R"
        spread_ratio = spread / radius if radius > 0 else float("inf")
        rank = 2 if inside >= t["confidence_high_inside"] else 1 if inside >= t["confidence_medium_inside"] else 0
        if spread_ratio > t["confidence_max_spread"]:
            rank = max(0, rank - 1)
        m.update({"gaze_inside": _f(inside), "gaze_spread_px": _f(spread), "region_radius_px": _f(radius), "gaze_spread_ratio": _f(spread_ratio),
                  "fixations": 0 if points is None else int(len(points))})
        return ("low", "medium", "high")[rank]

    def _characteristics(self, modality: str, image: np.ndarray, grey: np.ndarray, inside: np.ndarray, around: np.ndarray):
        """(vocabulary phrase, short adjective for the remarks, measurements)."""
        modality = look_up_option(modality, schema.MODALITIES, "modality")
        t = self.thresholds
        m: dict[str, Any] = {}
        if modality == "mri":
            g_in, g_out = grey[inside], grey[around]
            delta = float(np.mean(g_in) - np.mean(g_out))
            std_in, std_out = float(np.std(g_in)), float(np.std(g_out))
            m.update({"intensity_inside": _f(np.mean(g_in)), "intensity_around": _f(np.mean(g_out)), "intensity_delta": _f(delta),
                      "std_inside": _f(std_in), "std_around": _f(std_out)})
            if std_in >= t["mri_heterogeneous_std"] and std_in >= t["mri_heterogeneous_ratio"] * max(std_out, 1e-6):
                return "heterogeneous signal", "heterogeneous", m
            if delta >= t["mri_intensity_delta"]:
                return "hyperintense region", "hyperintense", m
            if delta <= -t["mri_intensity_delta"]:
                return "hypointense region", "hypointense", m
            return "homogeneous signal gland", "homogeneous", m

        lab = _lab(image)
        lab_in = lab[inside]
        med_in, med_out = np.median(lab_in, axis=0), np.median(lab[around], axis=0)
        dl, da, db = (float(v) for v in med_in - med_out)
        m.update({"lab_inside": [_f(v) for v in med_in], "lab_around": [_f(v) for v in med_out],
                  "delta_L": _f(dl), "delta_a": _f(da), "delta_b": _f(db), "delta_E": _f(np.sqrt(dl * dl + da * da + db * db))})
        if modality == "endoscopy":
            rgb = image.astype(np.float32)
            chroma = rgb[..., 0] / np.maximum(rgb.sum(axis=2), 1.0)
            dr = float(np.median(chroma[inside]) - np.median(chroma[around]))
            solidity_hc = solidity(inside)
            m.update({"delta_red_chromaticity": _f(dr), "solidity_m_hc": _f(solidity_hc)})
            if dr >= t["endo_reddish_dr"]:
                return "reddish mucosal protrusion", "reddish", m
            if dr <= t["endo_pale_dr"]:
                return "pale mucosal protrusion", "pale", m
            if solidity_hc < t["endo_lobulated_solidity"]:
                return "lobulated mass", "lobulated", m
            if np.sqrt(dl * dl + da * da + db * db) < t["endo_flat_contrast"]:
                return "flat lesion", "flat", m
            return "sessile polyp", "raised", m

        # dermoscopy
        L, a, b = (float(v) for v in med_in)
        hue = float(np.degrees(np.arctan2(b, a)))
        spread = float(np.sqrt(np.mean(np.sum((lab_in - lab_in.mean(axis=0)) ** 2, axis=1))))
        m.update({"hue_deg": _f(hue), "colour_spread": _f(spread)})
        if hue < t["derm_pink_hue_max"] and L > t["derm_pink_lightness_min"]:
            return "pink lesion", "pink", m
        if spread >= t["derm_variegated_std"]:
            return "variegated pigmentation", "variegated", m
        if spread < t["derm_uniform_std"]:
            return "uniformly pigmented lesion", "uniformly pigmented", m
        if L < t["derm_dark_lightness"]:
            return "dark brown lesion", "dark brown", m
        return "light brown lesion", "light brown", m


class _MissingInput(ValueError):
    """The describer lacks what it measures (no gaze maps, wrong shapes)."""


# ==============================================================================================
# by name
# ==============================================================================================
def create_explainer(name: str, **kwargs: Any) -> Explainer:
    """The explainer called ``name`` (``transformers``, ``jsonl``, ``describer``).

    Args:
        name: backend name.
        **kwargs: passed to the backend's constructor: ``model=``, ``device=``, ``retries=`` ...
            for :class:`TransformersExplainer`; ``path=``, ``strict=`` for
            :class:`JsonlExplainer`; none for :class:`DescriberExplainer`.

    Raises:
        ValueError: an unknown name (lists the allowed ones; "did you mean").
    """
    return EXPLAINERS.lookup(name)(**kwargs)
