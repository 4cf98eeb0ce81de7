"""Size configurations for the UniTok tokenizer.

Every size of the released architecture is a field here, so the same module code builds the released
`large` model and the tiny ones the tests run. Field names follow the released `args` where one exists.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class TokenizerConfig:
    name: str = "large"
    img_size: int = 256
    # ViTamin hybrid encoder: conv stem, two MBConv stages, strided pool conv, then the ViT trunk.
    stem_width: int = 160
    stage_widths: tuple = (160, 320)
    stage_depths: tuple = (2, 4)
    mbconv_expand: int = 4
    width: int = 1024  # ViT width (embed_dim[2] of vitamin_large)
    depth: int = 31
    num_heads: int = 16
    mlp_ratio: float = 2.0  # GeGLU hidden = width * mlp_ratio
    # Factorised multi-codebook quantiser.
    vocab_width: int = 64  # total latent width, split evenly over the codebooks
    num_codebooks: int = 8
    codebook_size: int = 4096  # entries per codebook (released vocab_size 32768 / 8)
    # CLIP side.
    embed_dim: int = 768
    text_width: int = 768
    text_heads: int = 12
    text_layers: int = 12
    text_vocab_size: int = 49408
    text_context_length: int = 77
    # Released preprocessing: expand2square pad colour, then [-1, 1].
    pad_color: tuple = (122, 116, 104)

    @property
    def grid(self) -> int:
        """Visual tokens per side: stem /2, two stages /2 each, pool /2."""
        return self.img_size // 16

    @property
    def num_tokens(self) -> int:
        return self.grid * self.grid

    @property
    def code_dim(self) -> int:
        return self.vocab_width // self.num_codebooks

    @property
    def proj_heads(self) -> int:
        # models/unitok.py: AttnProjection(width, vocab_width, width // vocab_width) -> 16 for large.
        return self.width // self.vocab_width

    @property
    def vocab_size(self) -> int:
        return self.codebook_size * self.num_codebooks

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["grid"] = self.grid
        d["num_tokens"] = self.num_tokens
        d["code_dim"] = self.code_dim
        return d

    @staticmethod
    def from_dict(d: dict) -> "TokenizerConfig":
        names = {f.name for f in dataclasses.fields(TokenizerConfig)}
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in names}
        return TokenizerConfig(**kw)

    def validate(self) -> None:
        problems = []
        if self.img_size % 16:
            problems.append(f"img_size {self.img_size} must be a multiple of 16")
        if self.vocab_width % self.num_codebooks:
            problems.append("vocab_width must divide evenly over num_codebooks")
        if self.width % self.num_heads:
            problems.append("width must divide evenly over num_heads")
        if self.width % self.vocab_width or (self.width // self.proj_heads) != self.vocab_width:
            problems.append("width must be a multiple of vocab_width (head_dim of the projection = vocab_width)")
        if len(self.stage_widths) != 2 or len(self.stage_depths) != 2:
            problems.append("ViTamin has exactly two MBConv stages")
        if self.text_width % self.text_heads:
            problems.append("text_width must divide evenly over text_heads")
        if problems:
            raise ValueError(f"invalid tokenizer config {self.name!r}: " + "; ".join(problems))


TOKENIZER_CONFIGS = {
    # The released UniTok-Large (vitamin_large, 8 x 4096 x 8-d codes, 256 px).
    "large": TokenizerConfig(),
    # Small enough for fast tests, still exercising every block kind (both shortcut kinds, stride-2 blocks).
    "small": TokenizerConfig(
        name="small", img_size=32, stem_width=16, stage_widths=(16, 32), stage_depths=(2, 2), width=64,
        depth=2, num_heads=4, vocab_width=16, num_codebooks=4, codebook_size=64, embed_dim=32, text_width=32,
        text_heads=2, text_layers=2, text_vocab_size=1000, text_context_length=16,
    ),
    # `small` with the released CLIP text tower vocabulary and context (open_clip's BPE, 49408 ids, 77 positions):
    # the test bundle for text embeddings (fixtures `clip`).
    "small-clip": TokenizerConfig(
        name="small-clip", img_size=32, stem_width=16, stage_widths=(16, 32), stage_depths=(2, 2), width=64,
        depth=2, num_heads=4, vocab_width=16, num_codebooks=4, codebook_size=64, embed_dim=32, text_width=32,
        text_heads=2, text_layers=2, text_vocab_size=49408, text_context_length=77,
    ),
    # The demo model (unitok/demo, models/demo): 128 px -> 8 x 8 visual tokens, sized to train on a 2-core CPU in
    # minutes. Narrow convs at full resolution (they dominate CPU time), a 2-block ViT of width 128 (the projection's
    # head size must equal vocab_width 64, hence 2 heads), 8 codebooks x 256 x 8-d codes. The CLIP text tower is
    # the released one's, narrower: open_clip BPE ids (vocab 49408, context 77, unitok/clip_tokenizer.py).
    "demo": TokenizerConfig(
        name="demo", img_size=128, stem_width=16, stage_widths=(16, 32), stage_depths=(1, 1), mbconv_expand=2,
        width=128, depth=2, num_heads=2, vocab_width=64, num_codebooks=8, codebook_size=256, embed_dim=64,
        text_width=64, text_heads=2, text_layers=2, text_vocab_size=49408, text_context_length=77,
    ),
}

# The released code builds its encoder by timm model name (args['model']); these are the sizes behind the names.
VITAMIN_PRESETS = {
    "vitamin_large": dict(stem_width=160, stage_widths=(160, 320), stage_depths=(2, 4), width=1024, depth=31,
                          num_heads=16),
}


def get_tokenizer_config(name: str) -> TokenizerConfig:
    if name not in TOKENIZER_CONFIGS:
        raise KeyError(f"unknown tokenizer config {name!r}; known: {', '.join(TOKENIZER_CONFIGS)}")
    return TOKENIZER_CONFIGS[name]


def config_from_released_args(args: dict, base: TokenizerConfig | None = None) -> TokenizerConfig:
    """Rebuild a config from the `args` dict the released checkpoint stores (utils/config.py field names)."""
    model = args.get("model", "vitamin_large")
    if base is None:
        if model not in VITAMIN_PRESETS:
            raise ValueError(f"checkpoint args name encoder {model!r}, which has no preset; pass --config")
        base = dataclasses.replace(TokenizerConfig(), **VITAMIN_PRESETS[model])
    num_codebooks = int(args.get("num_codebooks", base.num_codebooks))
    overrides = dict(
        img_size=int(args.get("img_size", base.img_size)),
        vocab_width=int(args.get("vocab_width", base.vocab_width)),
        num_codebooks=num_codebooks,
        codebook_size=int(args.get("vocab_size", base.vocab_size)) // num_codebooks,
        embed_dim=int(args.get("embed_dim", base.embed_dim)),
        text_width=int(args.get("text_width", base.text_width)),
        text_heads=int(args.get("text_heads", base.text_heads)),
        text_layers=int(args.get("text_layers", base.text_layers)),
        text_vocab_size=int(args.get("text_vocab_size", base.text_vocab_size)),
        text_context_length=int(args.get("text_context_length", base.text_context_length)),
    )
    cfg = dataclasses.replace(base, **overrides)
    cfg.validate()
    return cfg


def released_args(cfg: TokenizerConfig) -> dict:
    """The `args` dict a released-layout checkpoint of this config carries (inverse of the above)."""
    return dict(
        model="vitamin_large", img_size=cfg.img_size, vocab_size=cfg.vocab_size, vocab_width=cfg.vocab_width,
        num_codebooks=cfg.num_codebooks, quant_proj="attn", embed_dim=cfg.embed_dim, text_width=cfg.text_width,
        text_heads=cfg.text_heads, text_layers=cfg.text_layers, text_vocab_size=cfg.text_vocab_size,
        text_context_length=cfg.text_context_length, num_query=0, vq_beta=0.25, le=0.0, e_temp=0.01,
        resize_ratio=1.125, patch_size=16, drop_path=0.1,
    )

