"""Stage 2: a vision-language model explains *why* the looked-at region matters; a frozen text
encoder turns the explanation into the token sequence the teacher attends to.

Public API (docs/design.md §8): :func:`parse` (free model text -> six fields, status, reason),
:func:`build_prompt`, :func:`create_explainer` (``describer``, ``transformers``, ``jsonl``),
:func:`create_text_encoder` (``minilm``, ``roberta-base``, any hub id or folder), and
:func:`run_explain_stage` for a whole dataset with its cache.
"""
from .agreement import description_agreement, summarise_agreement
from .backends import Explainer, create_explainer
from .describer import DescriberExplainer  # (importing it registers the offline "describer")
from .encode import EncodedText, TextEncoder, create_text_encoder
from .pipeline import ExplainStageResult, load_explanations, load_text_embeddings, run_explain_stage, text_for
from .records import ExplainItem, Explanation
from .schema import FIELDS, PROMPT_VERSION, VOCABULARY, area_bin, build_prompt, field_char_spans, location_cell, parse, render_text

__all__ = [
    "description_agreement",
    "summarise_agreement",
    "Explainer",
    "create_explainer",
    "DescriberExplainer",
    "EncodedText",
    "TextEncoder",
    "create_text_encoder",
    "ExplainStageResult",
    "load_explanations",
    "load_text_embeddings",
    "run_explain_stage",
    "text_for",
    "ExplainItem",
    "Explanation",
    "FIELDS",
    "PROMPT_VERSION",
    "VOCABULARY",
    "area_bin",
    "build_prompt",
    "field_char_spans",
    "location_cell",
    "parse",
    "render_text",
]
