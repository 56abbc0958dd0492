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
* ``"describer"`` -- :class:`~fgi_core.explain.describer.DescriberExplainer` (its own module,
  registered when :mod:`fgi_core.explain` is imported): the offline default. A
  MEASUREMENT-BASED STAND-IN for a VLM, not a VLM: it measures each field from the image and
  the gaze outputs and writes them as the JSON a model would. Its records say so (``model`` and
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

from fgi_core.config import resolve_device
from fgi_core.registry import Registry, look_up_option

from . import schema
from .hub import local_only_kwargs, looks_like_path, quiet_loading
from .records import ExplainItem, Explanation

__all__ = [
    "Explainer",
    "TransformersExplainer",
    "JsonlExplainer",
    "VLMUnavailableError",
    "EXPLAINERS",
    "register_explainer",
    "list_explainers",
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
# by name
# ==============================================================================================
def create_explainer(name: str, **kwargs: Any) -> Explainer:
    """The explainer called ``name`` (``transformers``, ``jsonl``, ``describer``).

    Args:
        name: backend name.
        **kwargs: passed to the backend's constructor: ``model=``, ``device=``, ``retries=`` ...
            for :class:`TransformersExplainer`; ``path=``, ``strict=`` for
            :class:`JsonlExplainer`; none for the describer.

    Raises:
        ValueError: an unknown name (lists the allowed ones; "did you mean").
    """
    return EXPLAINERS.lookup(name)(**kwargs)
