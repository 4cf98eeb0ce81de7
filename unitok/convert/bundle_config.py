"""The bundle's config.json: model sizes, special ids, image/code layout, prompt templates, sampling defaults and
graph files. docs/bundle.md documents every field; the runtime reads nothing about the model from elsewhere.

Prompt formats and defaults are the released ones (eval/liquid: conversation.py conv_vicuna_v1, train.py,
infer_genai.py, scripts/generation/*.sh, model_vqa_loader.py).
"""
from __future__ import annotations

from ..config import TokenizerConfig
from ..mllm_config import MLLMConfig
from ..text_tokenizer import IMAGE_PLACEHOLDER

FORMAT = "unitok-bundle"
FORMAT_VERSION = 3  # 3: llm returns only new keys/values (2: GQA present outputs; 1: lm_head inside llm)

VICUNA_V1 = {
    "name": "vicuna_v1",
    "system": "A chat between a curious user and an artificial intelligence assistant. "
              "The assistant gives helpful, detailed, and polite answers to the user's questions.",
    "roles": ["USER", "ASSISTANT"],
    # SeparatorStyle.TWO: after a user turn comes sep, after an assistant turn sep2.
    "sep": " ",
    "sep2": "</s>",
    "image_placeholder": IMAGE_PLACEHOLDER,
    "image_message": IMAGE_PLACEHOLDER + "\n{question}",
}
TEXT_TO_IMAGE = {
    "suffix": " Generate an image based on this description.",
    "unconditional": "<unconditional>",
}
# Shipped benchmark scripts (genai.sh / mjhq.sh): the settings behind the reported numbers.
IMAGE_SAMPLING = {"cfg_scale": 7.0, "temperature": 1.0, "top_k": 0, "top_p": 1.0}
# model_vqa_loader.py as the understanding scripts run it: greedy, 128 new tokens.
TEXT_SAMPLING = {"temperature": 0.0, "top_k": 0, "top_p": 1.0, "max_new_tokens": 128}


def vicuna_v1_prompt(turns: list[tuple[str, str | None]]) -> str:
    """conv_vicuna_v1.get_prompt(): turns are (role, message); a None message ends the prompt with 'ROLE:'.

    One question: 'SYSTEM USER: <image>\\nWhat is this? ASSISTANT:'.
    """
    seps = (VICUNA_V1["sep"], VICUNA_V1["sep2"])
    out = VICUNA_V1["system"] + seps[0]
    for i, (role, message) in enumerate(turns):
        out += f"{role}: {message}{seps[i % 2]}" if message else f"{role}:"
    return out


def vqa_prompt(question: str, with_image: bool = True) -> str:
    user = VICUNA_V1["image_message"].format(question=question) if with_image else question
    return vicuna_v1_prompt([(VICUNA_V1["roles"][0], user), (VICUNA_V1["roles"][1], None)])


def bundle_config(mllm: MLLMConfig, tok: TokenizerConfig, dtype: str, graphs: dict, source: dict,
                  tokenizer_note: str) -> dict:
    """graphs: role -> file name for every graph in the bundle (MLLM and tokenizer)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "source": source,
        "dtype": dtype,
        "llm": mllm.to_dict(),
        "special_tokens": {
            "pad": mllm.pad_token_id, "unk": 0, "bos": mllm.bos_token_id, "eos": mllm.eos_token_id,
            "boi": mllm.boi_token_id, "eoi": mllm.eoi_token_id,
        },
        "image": {
            "size": tok.img_size,
            "num_codebooks": tok.num_codebooks,
            "codebook_size": tok.codebook_size,
            "code_dim": tok.code_dim,
            "grid": tok.grid,
            "visual_tokens": tok.num_tokens,
            "codes_shape": ["B", tok.num_codebooks, tok.num_tokens],
        },
        "prompts": {"chat": VICUNA_V1, "text_to_image": {**TEXT_TO_IMAGE, "append_ids": [mllm.boi_token_id]}},
        "sampling": {"image": IMAGE_SAMPLING, "text": TEXT_SAMPLING, "rng": "mulberry32", "spec": "docs/bundle.md"},
        "tokenizer": {"files": ["tokenizer.json", "tokenizer_config.json"], "note": tokenizer_note},
        "graphs": graphs,
        "unitok_config": "unitok_config.json",
    }
