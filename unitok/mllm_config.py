"""Size configuration of the UniTok multimodal LLM (released `unitok_mllm`: Llama-2-7B + visual embedder + depth head).

Every size is a field, so one module tree builds the released model and the tiny test one. Field names follow the
Hugging Face `LlamaConfig` where one exists; the visual parts follow eval/liquid/model/{liquid,arhead}.py.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class MLLMConfig:
    name: str = "7b"
    # Llama-2 language model.
    hidden_size: int = 4096
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    num_key_value_heads: int = 32
    head_dim: int = 128
    intermediate_size: int = 11008
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    max_position_embeddings: int = 4096
    vocab_size: int = 32000
    # Depth head (AR_head): this many Llama layers with the language model's sizes.
    ar_head_layers: int = 3
    # Visual codes: one visual token = num_codebooks codes, each an index into its own codebook.
    num_codebooks: int = 8
    codebook_size: int = 4096
    code_dim: int = 8
    # Visual embedder (TokenEmbedder): causal AttnProjection(vocab_width -> embedder_width), then the MLP projector.
    embedder_width: int = 1024
    embedder_heads: int = 16
    embedder_mlp_ratio: int = 2
    projector_ln_eps: float = 1e-6
    # Special token ids of the Llama-2 SentencePiece vocabulary as the released model uses them.
    pad_token_id: int = 0
    bos_token_id: int = 1
    eos_token_id: int = 2
    boi_token_id: int = 3
    eoi_token_id: int = 4

    @property
    def vocab_width(self) -> int:
        """Width of one visual token's concatenated code vectors (64 released)."""
        return self.num_codebooks * self.code_dim

    @property
    def num_visual_codes(self) -> int:
        """Size of the whole multi-codebook vocabulary (the released `VectorQuantizerM(32768, ...)`)."""
        return self.num_codebooks * self.codebook_size

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["vocab_width"] = self.vocab_width
        return d

    @staticmethod
    def from_dict(d: dict) -> "MLLMConfig":
        names = {f.name for f in dataclasses.fields(MLLMConfig)}
        return MLLMConfig(**{k: v for k, v in d.items() if k in names})

    def validate(self) -> None:
        problems = []
        if self.num_attention_heads * self.head_dim != self.hidden_size:
            problems.append("num_attention_heads * head_dim must equal hidden_size")
        if self.num_attention_heads % self.num_key_value_heads:
            problems.append("num_attention_heads must be a multiple of num_key_value_heads")
        # The depth head's GroupQueryAttention with do_rotary needs head_dim % 16 == 0 (cos cache width % 8).
        if self.head_dim % 16:
            problems.append("head_dim must be a multiple of 16 (the depth head's GroupQueryAttention rotary)")
        if self.embedder_width <= self.vocab_width:
            problems.append("embedder_width must exceed vocab_width (the embedder's AttnProjection expands)")
        if self.embedder_width % self.embedder_heads:
            problems.append("embedder_width must divide evenly over embedder_heads")
        if (self.embedder_width // self.embedder_heads) % 8:
            problems.append("embedder head size must be a multiple of 8 (GroupQueryAttention)")
        if problems:
            raise ValueError(f"invalid MLLM config {self.name!r}: " + "; ".join(problems))


MLLM_CONFIGS = {
    # The released unitok_mllm: Llama-2-7B, 8 codebooks x 4096 entries x 8-d, embedder 64 -> 1024 (16 heads) -> 4096.
    "7b": MLLMConfig(),
    # For tests and the tiny bundle: the real 32000-token Llama-2 vocabulary (it uses the real tokenizer) and the
    # codebook layout of TokenizerConfig 'small' (4 x 64 x 4-d, embedder width 64 / 4 heads as its post_quant_proj).
    # hidden 64 keeps embed_tokens + lm_head at 2 x 32000 x 64 x 2 B = 8.2 MB in fp16; kv heads 2 < heads 4 (GQA).
    "tiny": MLLMConfig(
        name="tiny", hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
        intermediate_size=128, max_position_embeddings=512, num_codebooks=4, codebook_size=64, code_dim=4,
        embedder_width=64, embedder_heads=4,
    ),
    # The demo model (unitok/demo, models/demo): codebooks of TokenizerConfig 'demo' (8 x 256 x 8-d; embedder width
    # 128 / 2 heads as its post_quant_proj), the real 32000-token vocabulary, hidden 128 so that embed_tokens +
    # lm_head (2 x 32000 x 128) fit the bundle's size budget; 4 Llama layers, the released 3-layer depth head.
    "demo": MLLMConfig(
        name="demo", hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4, head_dim=32,
        intermediate_size=320, max_position_embeddings=512, num_codebooks=8, codebook_size=256, code_dim=8,
        embedder_width=128, embedder_heads=2,
    ),
}


def get_mllm_config(name: str) -> MLLMConfig:
    if name not in MLLM_CONFIGS:
        raise KeyError(f"unknown MLLM config {name!r}; known: {', '.join(MLLM_CONFIGS)}")
    return MLLM_CONFIGS[name]


def from_hf_config(hf: dict, base: MLLMConfig | None = None) -> MLLMConfig:
    """MLLMConfig from the released Hugging Face config.json (a MiniGeminiConfig, i.e. a LlamaConfig plus extras).

    The language-model sizes come from the Llama fields. The visual sizes are hard-coded in the released code
    (liquid.py "hard coding for unitok", arhead.py), so they are taken from `base` (default: the '7b' preset).
    """
    base = base or MLLM_CONFIGS["7b"]
    heads = int(hf.get("num_attention_heads", base.num_attention_heads))
    hidden = int(hf.get("hidden_size", base.hidden_size))
    cfg = dataclasses.replace(
        base,
        name=str(hf.get("_name_or_path") or base.name),
        hidden_size=hidden,
        num_hidden_layers=int(hf.get("num_hidden_layers", base.num_hidden_layers)),
        num_attention_heads=heads,
        num_key_value_heads=int(hf.get("num_key_value_heads") or heads),  # absent in pre-GQA Llama configs
        head_dim=int(hf.get("head_dim") or hidden // heads),
        intermediate_size=int(hf.get("intermediate_size", base.intermediate_size)),
        rms_norm_eps=float(hf.get("rms_norm_eps", base.rms_norm_eps)),
        rope_theta=float(hf.get("rope_theta", base.rope_theta)),
        max_position_embeddings=int(hf.get("max_position_embeddings", base.max_position_embeddings)),
        vocab_size=int(hf.get("vocab_size", base.vocab_size)),
        pad_token_id=int(hf["pad_token_id"]) if hf.get("pad_token_id") is not None else base.pad_token_id,
        bos_token_id=int(hf.get("bos_token_id", base.bos_token_id)),
        eos_token_id=int(hf.get("eos_token_id", base.eos_token_id)),
    )
    if hf.get("rope_scaling"):
        raise ValueError(f"rope_scaling {hf['rope_scaling']!r} is not supported (Llama-2 uses plain RoPE)")
    if hf.get("hidden_act", "silu") != "silu":
        raise ValueError(f"hidden_act {hf['hidden_act']!r} is not supported (Llama uses silu)")
    if hf.get("attention_bias") or hf.get("mlp_bias"):
        raise ValueError("attention/mlp biases are not supported (Llama-2 has none)")
    cfg.validate()
    return cfg
