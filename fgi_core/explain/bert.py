"""A light BERT text encoder: plain torch + ``safetensors`` + ``tokenizers``, no ``transformers``.

Importing ``transformers`` and loading through ``AutoModel`` / ``AutoTokenizer`` costs seconds per
process (the import itself, then its lazy imports of ``torch._dynamo`` and friends). For
BERT-architecture encoders (BERT, MiniLM, ... with ``model_type: bert``) this module gives the
same numbers without it:

* :class:`BertEncoder` -- BERT's encoder written out in torch, with the parameter names of the
  checkpoint (``embeddings.*``, ``encoder.layer.{i}.*``, optionally ``pooler.*``), so the
  ``model.safetensors`` tensors load with ``load_state_dict(strict=True)``. Its
  ``forward(input_ids, attention_mask)`` returns the last hidden state (``B x L x D``), equal to
  ``transformers.BertModel(...).last_hidden_state`` up to float rounding (attention goes through
  ``torch.nn.functional.scaled_dot_product_attention`` with a boolean key mask, as transformers'
  default ``sdpa`` attention does).
* :func:`load_bert` -- the frozen model from a folder (``config.json`` + ``model.safetensors``),
  or ``None`` when the folder is not a plain BERT this module reproduces (the caller then falls
  back to ``transformers``).
* :class:`FastTokenizer` / :func:`load_fast_tokenizer` -- a thin wrapper on
  ``tokenizers.Tokenizer.from_file("tokenizer.json")`` that answers the one call
  :class:`fgi_core.explain.encode.TextEncoder` makes of a transformers fast tokenizer
  (``input_ids``, ``token_type_ids``, ``attention_mask``, ``special_tokens_mask``,
  ``offset_mapping``; no padding, truncation to ``max_length``), plus ``pad_token_id``,
  ``model_input_names``, ``is_fast`` and ``convert_ids_to_tokens``.

Example:
    >>> from fgi_core.explain.bert import load_bert, load_fast_tokenizer   # doctest: +SKIP
    >>> model, tok = load_bert(folder), load_fast_tokenizer(folder)         # doctest: +SKIP
    >>> enc = tok(["a reddish polyp"], max_length=128)                       # doctest: +SKIP
    >>> ids = torch.tensor(enc["input_ids"]); mask = torch.tensor(enc["attention_mask"])
    >>> model(ids, mask).shape                                               # doctest: +SKIP
    torch.Size([1, 6, 384])
"""
from __future__ import annotations

import json
import logging
import os
from contextvars import ContextVar
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["BertConfig", "BertEncoder", "load_bert", "FastTokenizer", "load_fast_tokenizer"]

log = logging.getLogger(__name__)

WEIGHTS_NAME = "model.safetensors"
TOKENIZER_NAME = "tokenizer.json"
#: What BertTokenizerFast feeds the model; ``token_type_ids`` are all zeros for single texts.
BERT_INPUT_NAMES = ("input_ids", "token_type_ids", "attention_mask")
# transformers' "no limit" model_max_length (int(1e30)): treated as unknown.
_NO_MAX_LENGTH = int(1e20)


# ----------------------------------------------------------------------------------------------
# Config
# ----------------------------------------------------------------------------------------------
@dataclass
class BertConfig:
    """The ``config.json`` fields the encoder needs (defaults: transformers' ``BertConfig``)."""

    model_type: str = "bert"
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    position_embedding_type: str = "absolute"
    is_encoder_decoder: bool = False
    is_decoder: bool = False
    add_cross_attention: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BertConfig":
        """From a ``config.json`` dict; unknown keys are ignored, ``null`` values take defaults."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known and v is not None})

    @classmethod
    def from_folder(cls, folder: str | os.PathLike) -> "BertConfig":
        """From ``folder/config.json``."""
        with open(Path(folder) / "config.json", encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))


def _unsupported(config: BertConfig) -> str | None:
    """Why this module cannot reproduce ``config``'s model, or None when it can."""
    if config.model_type != "bert":
        return f"model_type {config.model_type!r} is not 'bert'"
    if config.hidden_act != "gelu":
        return f"hidden_act {config.hidden_act!r} is not 'gelu'"
    if config.position_embedding_type not in (None, "absolute"):
        return f"position_embedding_type {config.position_embedding_type!r} is not 'absolute'"
    if config.is_decoder or config.is_encoder_decoder or config.add_cross_attention:
        return "not an encoder-only model"
    if config.hidden_size % config.num_attention_heads:
        return "hidden_size is not a multiple of num_attention_heads"
    return None


# ----------------------------------------------------------------------------------------------
# The model (module and parameter names follow transformers' BertModel, hence the checkpoint)
# ----------------------------------------------------------------------------------------------
# True while load_bert builds a model whose every tensor then comes from the file: the random
# init (~0.25 s for MiniLM) is skipped. (Building on the "meta" device instead would not do:
# its normal_ goes through torch._refs, which imports torch._dynamo, ~3 s.)
_SKIP_INIT: ContextVar[bool] = ContextVar("fgi_bert_skip_init", default=False)


class _Linear(nn.Linear):
    """``nn.Linear`` whose random init can be skipped (weights left uninitialised)."""

    def reset_parameters(self) -> None:
        if not _SKIP_INIT.get():
            super().reset_parameters()


class _Embedding(nn.Embedding):
    """``nn.Embedding`` whose random init can be skipped (weights left uninitialised)."""

    def reset_parameters(self) -> None:
        if not _SKIP_INIT.get():
            super().reset_parameters()


class _Embeddings(nn.Module):
    """word + token_type + position embeddings -> LayerNorm."""

    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = _Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position_embeddings = _Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = _Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """``B x L`` ids (and token types, default 0) -> ``B x L x D``."""
        length = input_ids.shape[1]
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        positions = torch.arange(length, device=input_ids.device)[None, :]
        # Same order of additions as transformers: (word + token_type) + position.
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        x = x + self.position_embeddings(positions)
        return self.LayerNorm(x)


class _SelfAttention(nn.Module):
    """Multi-head self-attention: query/key/value projections + scaled dot-product attention."""

    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.num_heads = c.num_attention_heads
        self.head_dim = c.hidden_size // c.num_attention_heads
        self.query = _Linear(c.hidden_size, c.hidden_size)
        self.key = _Linear(c.hidden_size, c.hidden_size)
        self.value = _Linear(c.hidden_size, c.hidden_size)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        """``B x L x D`` -> ``B x L x D``; ``key_mask``: bool ``B x 1 x 1 x L`` (True = attend) or None."""
        b, length, _ = x.shape
        shape = (b, length, self.num_heads, self.head_dim)
        q = self.query(x).view(shape).transpose(1, 2)  # B x H x L x d
        k = self.key(x).view(shape).transpose(1, 2)
        v = self.value(x).view(shape).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask, scale=self.head_dim**-0.5)
        return out.transpose(1, 2).reshape(b, length, -1)


class _DenseAddNorm(nn.Module):
    """``LayerNorm(dense(x) + residual)`` -- BERT's ``*.output`` blocks."""

    def __init__(self, n_in: int, c: BertConfig) -> None:
        super().__init__()
        self.dense = _Linear(n_in, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """``B x L x n_in``, ``B x L x D`` -> ``B x L x D``."""
        return self.LayerNorm(self.dense(x) + residual)


class _Attention(nn.Module):
    """Self-attention block: ``LayerNorm(dense(attn(x)) + x)``."""

    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.self = _SelfAttention(c)
        self.output = _DenseAddNorm(c.hidden_size, c)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        """``B x L x D`` -> ``B x L x D``."""
        return self.output(self.self(x, key_mask), x)


class _Intermediate(nn.Module):
    """``gelu(dense(x))`` with the exact (erf) GELU."""

    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.dense = _Linear(c.hidden_size, c.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``B x L x D`` -> ``B x L x intermediate_size``."""
        return F.gelu(self.dense(x))


class _Layer(nn.Module):
    """One transformer layer: attention block, then feed-forward block (both post-LayerNorm)."""

    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.attention = _Attention(c)
        self.intermediate = _Intermediate(c)
        self.output = _DenseAddNorm(c.intermediate_size, c)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        """``B x L x D`` -> ``B x L x D``."""
        h = self.attention(x, key_mask)
        return self.output(self.intermediate(h), h)


class _Stack(nn.Module):
    """``encoder.layer.{i}``: the layers (a module only so that the names match the checkpoint)."""

    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_Layer(c) for _ in range(c.num_hidden_layers))


class _Pooler(nn.Module):
    """``pooler.dense``: held, never used (see :class:`BertEncoder`)."""

    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.dense = _Linear(c.hidden_size, c.hidden_size)


class BertEncoder(nn.Module):
    """BERT's encoder in plain torch, eval only (no dropout); returns the last hidden state.

    Parameter names equal a ``BertModel`` checkpoint's keys: ``embeddings.{word,position,
    token_type}_embeddings.weight``, ``embeddings.LayerNorm.*``, ``encoder.layer.{i}.attention.
    self.{query,key,value}.*``, ``encoder.layer.{i}.attention.output.{dense,LayerNorm}.*``,
    ``encoder.layer.{i}.intermediate.dense.*``, ``encoder.layer.{i}.output.{dense,LayerNorm}.*``
    and, with ``with_pooler=True``, ``pooler.dense.*``. The pooler is loaded but never used by
    :meth:`forward`; it is kept only so that the parameter count equals transformers'
    ``BertModel`` (which always has one), e.g. for a manifest's ``num_parameters``.

    Attributes:
        config: the :class:`BertConfig` (``model_type``, ``hidden_size``,
            ``max_position_embeddings``, ``is_encoder_decoder=False``, ``is_decoder=False``, ...).
    """

    def __init__(self, config: BertConfig, with_pooler: bool = False) -> None:
        super().__init__()
        why = _unsupported(config)
        if why:
            raise ValueError(f"BertEncoder cannot build this model: {why}")
        self.config = config
        self.embeddings = _Embeddings(config)
        self.encoder = _Stack(config)
        if with_pooler:
            self.pooler = _Pooler(config)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The last hidden state.

        Args:
            input_ids: long ``B x L``, ``L <= config.max_position_embeddings``.
            attention_mask: ``B x L``, 1/True for real tokens, 0/False for padding (keys masked
                out of every query's softmax); None = all real.
            token_type_ids: long ``B x L`` (default all 0).

        Returns:
            ``B x L x D`` (``D = config.hidden_size``), the weights' dtype (float32 by default).
            Padding positions hold values too (their queries still attend to the real tokens);
            only the real tokens' rows are meaningful.
        """
        if input_ids.shape[1] > self.config.max_position_embeddings:
            raise ValueError(
                f"{input_ids.shape[1]} tokens > max_position_embeddings={self.config.max_position_embeddings}"
            )
        x = self.embeddings(input_ids, token_type_ids)
        key_mask = None  # as transformers: no mask at all when nothing is padded
        if attention_mask is not None and not bool(attention_mask.bool().all()):
            key_mask = attention_mask.bool()[:, None, None, :]  # B x 1 x 1 x L, broadcast over heads and queries
        for layer in self.encoder.layer:
            x = layer(x, key_mask)
        return x


# ----------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------
def _bert_state_dict(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors renamed/filtered for :class:`BertEncoder`.

    * a ``bert.`` prefix (BertFor* checkpoints) is stripped;
    * ``embeddings.position_ids`` / ``embeddings.token_type_ids`` (buffers some checkpoints
      store: positions are ``arange(L)`` and token types 0 here) are dropped;
    * task heads (``cls.*``, ``classifier.*``, ``qa_outputs.*``: anything outside
      ``embeddings.``/``encoder.``/``pooler.``) are dropped, as ``AutoModel`` ignores them.
    """
    prefixed = any(k.startswith("bert.embeddings.") for k in tensors)
    out = {}
    for key, value in tensors.items():
        if prefixed:
            if not key.startswith("bert."):
                continue
            key = key[len("bert."):]
        if key in ("embeddings.position_ids", "embeddings.token_type_ids"):
            continue
        if key.startswith(("embeddings.", "encoder.", "pooler.")):
            out[key] = value
    return out


def load_bert(
    folder: str | os.PathLike, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> BertEncoder | None:
    """The frozen (``requires_grad_(False)``, ``eval()``) :class:`BertEncoder` in ``folder``.

    Args:
        folder: holds ``config.json`` and ``model.safetensors``.
        device: where the weights go.
        dtype: weights' dtype (default float32, whatever the file stores).

    Returns:
        The model, or None when ``folder`` is not something this module reproduces exactly:
        no ``config.json`` / ``model.safetensors``, ``model_type != "bert"``, ``hidden_act !=
        "gelu"``, a non-absolute ``position_embedding_type``, a decoder, or a checkpoint whose
        keys do not match (missing / extra weights). The caller then uses transformers.
    """
    folder = Path(folder)
    weights = folder / WEIGHTS_NAME
    if not (folder / "config.json").is_file() or not weights.is_file():
        return None
    try:
        config = BertConfig.from_folder(folder)
    except (OSError, ValueError, TypeError) as err:
        log.info("light BERT path off for %s: bad config.json (%s)", folder, err)
        return None
    why = _unsupported(config)
    if why:
        log.info("light BERT path off for %s: %s", folder, why)
        return None
    from safetensors.torch import load_file

    state = _bert_state_dict(load_file(str(weights)))
    token = _SKIP_INIT.set(True)  # no random init: every tensor comes from the file
    try:
        model = BertEncoder(config, with_pooler=any(k.startswith("pooler.") for k in state))
    finally:
        _SKIP_INIT.reset(token)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as err:
        log.info("light BERT path off for %s: checkpoint keys do not match (%s)", folder, err)
        return None
    model.to(device=device, dtype=torch.float32 if dtype is None else dtype)
    model.requires_grad_(False)
    return model.eval()


# ----------------------------------------------------------------------------------------------
# Tokenizer
# ----------------------------------------------------------------------------------------------
class FastTokenizer:
    """``tokenizers.Tokenizer`` with the slice of transformers' fast-tokenizer API the text
    encoder uses.

    Attributes:
        tokenizer: the ``tokenizers.Tokenizer`` (its own padding is disabled; truncation is set
            on each call).
        pad_token_id: id of the padding token, or None.
        model_input_names: ``["input_ids", "token_type_ids", "attention_mask"]`` (BERT's).
        model_max_length: ``tokenizer_config.json``'s ``model_max_length`` (None if absent); the
            default ``max_length`` of a call.
        is_fast: True (offset mappings are available).
    """

    is_fast = True

    def __init__(
        self,
        tokenizer: Any,
        *,
        pad_token: str | None = None,
        model_input_names: Sequence[str] = BERT_INPUT_NAMES,
        model_max_length: int | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.tokenizer.no_padding()  # tokenizer.json may embed padding (MiniLM's: Fixed 128)
        self.pad_token = pad_token
        self.pad_token_id = tokenizer.token_to_id(pad_token) if pad_token is not None else None
        self.model_input_names = list(model_input_names)
        self.model_max_length = model_max_length

    def __repr__(self) -> str:
        return f"FastTokenizer(vocab_size={self.tokenizer.get_vocab_size()}, pad_token_id={self.pad_token_id})"

    def __call__(
        self,
        texts: str | Sequence[str],
        *,
        truncation: bool = False,
        max_length: int | None = None,
        padding: bool | str = False,
        add_special_tokens: bool = True,
        return_offsets_mapping: bool = True,
        return_special_tokens_mask: bool = True,
        return_attention_mask: bool = True,
        return_token_type_ids: bool | None = None,
    ) -> dict[str, list]:
        """Tokenize like ``transformers`` ``tok(texts, truncation=True, max_length=M,
        padding=False, return_offsets_mapping=True, return_special_tokens_mask=True,
        return_attention_mask=True)``.

        Args:
            texts: a list of str (a single str gives unbatched lists, as transformers does).
            truncation: cut each text to ``max_length`` tokens, special tokens included.
            max_length: the cut (default ``model_max_length``).
            padding: only False / ``"do_not_pad"`` (the caller pads).
            return_token_type_ids: default: when ``model_input_names`` has them.

        Returns:
            ``{"input_ids", "token_type_ids", "attention_mask", "special_tokens_mask",
            "offset_mapping"}`` (those asked for), each a list per text of length ``L_i``;
            offsets are ``(start, end)`` character tuples, ``(0, 0)`` for special tokens.
        """
        if padding not in (False, "do_not_pad", None):
            raise ValueError(f"FastTokenizer does not pad (padding={padding!r}); pad the batch yourself")
        single = isinstance(texts, str)
        batch = [texts] if single else list(texts)
        self._set_truncation(truncation, max_length)
        encodings = self.tokenizer.encode_batch(batch, add_special_tokens=add_special_tokens)
        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        out: dict[str, list] = {"input_ids": [e.ids for e in encodings]}
        if return_token_type_ids:
            out["token_type_ids"] = [e.type_ids for e in encodings]
        if return_attention_mask:
            out["attention_mask"] = [e.attention_mask for e in encodings]
        if return_special_tokens_mask:
            out["special_tokens_mask"] = [e.special_tokens_mask for e in encodings]
        if return_offsets_mapping:
            out["offset_mapping"] = [[tuple(o) for o in e.offsets] for e in encodings]
        return {k: v[0] for k, v in out.items()} if single else out

    def _set_truncation(self, truncation: bool, max_length: int | None) -> None:
        """Truncation as transformers sets it per call (``longest_first``, right side)."""
        if not truncation:
            self.tokenizer.no_truncation()
            return
        if max_length is None:
            max_length = self.model_max_length
        if max_length is None:  # transformers, too, leaves such a text whole
            self.tokenizer.no_truncation()
            return
        self.tokenizer.enable_truncation(int(max_length), stride=0, strategy="longest_first", direction="right")

    @property
    def unk_token_id(self) -> int | None:
        """Id of ``[UNK]`` (None when the vocabulary has none)."""
        return self.tokenizer.token_to_id("[UNK]")

    def get_vocab(self) -> dict[str, int]:
        """Token -> id, added tokens included (as transformers' ``get_vocab``)."""
        return self.tokenizer.get_vocab(with_added_tokens=True)

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        """Text of ``ids`` (WordPiece pieces joined, as the tokenizer's decoder does)."""
        return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)

    def convert_ids_to_tokens(self, ids: int | Sequence[int]) -> str | None | list[str | None]:
        """Token strings of ``ids`` (None for an id outside the vocabulary), as transformers."""
        if isinstance(ids, int):
            return self.tokenizer.id_to_token(ids)
        return [self.tokenizer.id_to_token(int(i)) for i in ids]


def _special_token(value: Any) -> str | None:
    """A special token from tokenizer_config.json: a str or an AddedToken dict (``content``)."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _read_json(path: Path) -> dict:
    """``path``'s JSON object, or {} when absent/unreadable."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _not_as_transformers(cfg: dict, normalizer: dict | None) -> str | None:
    """Why transformers would tokenize this folder otherwise than its tokenizer.json says, or None.

    transformers' ``BertTokenizer`` rebuilds the normaliser from ``tokenizer_config.json``
    (``do_lower_case`` True, ``strip_accents`` None, ``tokenize_chinese_chars`` True when
    absent); other tokenizer classes may rebuild more. So: a Bert tokenizer class (or none
    named) and a ``BertNormalizer`` that agrees with those three settings.
    """
    kind = cfg.get("tokenizer_class")
    if kind not in (None, "BertTokenizer", "BertTokenizerFast"):
        return f"tokenizer_class {kind!r} is not BertTokenizer"
    if not normalizer or normalizer.get("type") != "BertNormalizer":
        return "tokenizer.json's normalizer is not a BertNormalizer"
    wanted = {"lowercase": cfg.get("do_lower_case", True), "strip_accents": cfg.get("strip_accents"),
              "handle_chinese_chars": cfg.get("tokenize_chinese_chars", True)}
    differ = [k for k, v in wanted.items() if normalizer.get(k) != v]
    return f"tokenizer.json's normalizer differs from tokenizer_config.json in {differ}" if differ else None


def load_fast_tokenizer(folder: str | os.PathLike) -> FastTokenizer | None:
    """The :class:`FastTokenizer` of ``folder/tokenizer.json``, or None when there is none or
    when transformers would tokenize otherwise (:func:`_not_as_transformers`).

    ``pad_token``, ``model_max_length`` and ``model_input_names`` come from
    ``tokenizer_config.json`` (then ``special_tokens_map.json`` / tokenizer.json's padding for
    the pad token) when present. Meant for BERT (WordPiece) folders, whose tokenizer.json
    transformers uses as is; other tokenizer classes may be rebuilt differently by transformers.
    """
    folder = Path(folder)
    if not (folder / TOKENIZER_NAME).is_file():
        return None
    from tokenizers import Tokenizer

    cfg = _read_json(folder / "tokenizer_config.json")
    why = _not_as_transformers(cfg, _read_json(folder / TOKENIZER_NAME).get("normalizer"))
    if why:
        log.info("light tokenizer off for %s: %s", folder, why)
        return None
    tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_NAME))
    pad = _special_token(cfg.get("pad_token"))
    if pad is None:
        pad = _special_token(_read_json(folder / "special_tokens_map.json").get("pad_token"))
    if pad is None and tokenizer.padding:
        pad = tokenizer.padding.get("pad_token")
    max_len = cfg.get("model_max_length")
    max_len = int(max_len) if isinstance(max_len, (int, float)) and 0 < max_len < _NO_MAX_LENGTH else None
    names = cfg.get("model_input_names") or BERT_INPUT_NAMES
    return FastTokenizer(tokenizer, pad_token=pad, model_input_names=names, model_max_length=max_len)
