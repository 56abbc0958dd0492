"""Tiny randomly initialised Hugging Face models built locally, for tests (nothing downloaded).

:func:`build_tiny_vlm` writes a ~55k-parameter LLaVA (CLIP vision tower + Llama text model)
and its processor to a folder with ``save_pretrained``; ``AutoProcessor`` and
``AutoModelForImageTextToText`` load it back like any hub VLM. It generates nonsense, fast.

Why LLaVA and not Qwen2-VL: transformers v5's ``Qwen2VLProcessor`` includes a video processor,
and video processors need ``torchvision`` (not installed here), so a Qwen2-VL processor cannot
even be constructed. LLaVA's processor is an image processor + a tokenizer only, and its image
processor has a PIL backend (``CLIPImageProcessorPil``).

The tokenizer is built from scratch with the ``tokenizers`` library: a character-level
WordLevel vocabulary (printable ASCII and newline) plus the special tokens ``<pad>``, ``<s>``,
``</s>``, ``<image>``, wrapped in ``PreTrainedTokenizerFast``.
"""
from __future__ import annotations

from pathlib import Path

# A minimal chat template in the usual message format: an image item becomes "<image>\n".
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: "
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}{{ '<image>\\n' }}{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}"
)


def build_tiny_tokenizer():
    """A character-level fast tokenizer with LLaVA's special tokens (left padding)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    special = ["<pad>", "<s>", "</s>", "<image>"]
    chars = [chr(i) for i in range(32, 127)] + ["\n"]
    vocab = {t: i for i, t in enumerate(special + chars)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")  # one token per character
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(special)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<pad>", padding_side="left"
    )


def build_tiny_vlm(folder: str | Path, seed: int = 0) -> Path:
    """Write a tiny random LLaVA and its processor to ``folder``; return the folder.

    Images are resized to 28 x 28 (4 patches of 14 px, CLS dropped: 4 image tokens).
    """
    import torch
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    folder = Path(folder)
    tokenizer = build_tiny_tokenizer()
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28})
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        chat_template=TINY_CHAT_TEMPLATE,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
    )
    vocab_size = len(tokenizer)
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
            image_size=28, patch_size=14, projection_dim=32,
        ).to_dict(),
        text_config=LlamaConfig(
            vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        ).to_dict(),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
