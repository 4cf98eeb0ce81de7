"""ViTamin hybrid encoder and the ViT decoder with its conv upsampler (UniTok models/vitamin.py over timm 1.0.8).

Module names mirror the released state dict: `encoder.patch_embed.backbone.{stem,stages,pool}`, `encoder.blocks.N`,
`encoder.norm`, `decoder.blocks.N`, `decoder.norm`, `decoder.up_conv{1..4}`. Neither side has a positional
embedding (the encoder's `pos_embed` is a frozen zero parameter kept for the keys).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import TokenizerConfig
from .layers import GeGluMlp, LayerNorm2d, LayerNormAct2d, attention


# --- ViT trunk (timm Block with GeGluMlp) ------------------------------------------------------------------


class Attention(nn.Module):
    """timm Attention: fused qkv with bias, full (bidirectional) attention, output projection."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4).unbind(0)
        return self.proj(attention(q, k, v).transpose(1, 2).reshape(B, N, C))


class Block(nn.Module):
    """Pre-norm transformer block (LayerNorm eps 1e-6); the MLP is GeGLU with an inner LayerNorm of its own."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = GeGluMlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


# --- Encoder conv stem and MBConv stages ----------------------------------------------------------------


class Stem(nn.Module):
    """conv3x3 s2 -> LayerNorm2d + GELU -> conv3x3 (halves the resolution)."""

    def __init__(self, in_chs: int, out_chs: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_chs, out_chs, 3, stride=2, padding=1)
        self.norm1 = LayerNormAct2d(out_chs)
        self.conv2 = nn.Conv2d(out_chs, out_chs, 3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.norm1(self.conv1(x)))


class Downsample2d(nn.Module):
    """timm maxxvit Downsample2d(pool_type='avg'): 3x3/2 average pool without padded zeros, 1x1 conv if widening."""

    def __init__(self, dim: int, dim_out: int):
        super().__init__()
        self.pool = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.expand = nn.Conv2d(dim, dim_out, 1) if dim != dim_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.expand(self.pool(x))


def make_shortcut(in_chs: int, out_chs: int, stride: int, resample: type) -> nn.Module:
    """The residual path of an (inverse) MBConv block: the resampling module when strided, else a 1x1 conv when
    the width changes, else identity. Its class decides the key (`shortcut.expand.*`, `shortcut.conv.*`, `shortcut.*`)."""
    if stride == 2:
        return resample(in_chs, out_chs)
    return nn.Conv2d(in_chs, out_chs, 1) if in_chs != out_chs else nn.Identity()


class MbConvLNBlock(nn.Module):
    """Pre-norm inverted bottleneck: 1x1 expand -> depthwise 3x3 (stride) -> 1x1 project, plus shortcut."""

    def __init__(self, in_chs: int, out_chs: int, stride: int, expand: int):
        super().__init__()
        mid = out_chs * expand
        self.shortcut = make_shortcut(in_chs, out_chs, stride, Downsample2d)
        self.pre_norm = LayerNormAct2d(in_chs, apply_act=False)
        self.conv1_1x1 = nn.Conv2d(in_chs, mid, 1)
        self.conv2_kxk = nn.Conv2d(mid, mid, 3, stride=stride, padding=1, groups=mid)
        self.conv3_1x1 = nn.Conv2d(mid, out_chs, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.shortcut(x)
        x = F.gelu(self.conv1_1x1(self.pre_norm(x)))
        x = F.gelu(self.conv2_kxk(x))
        return self.conv3_1x1(x) + shortcut


class StridedConv(nn.Module):
    """LayerNorm2d then conv3x3 s2 into the ViT width: the last halving before the token grid."""

    def __init__(self, in_chans: int, embed_dim: int):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, 3, stride=2, padding=1)
        self.norm = LayerNorm2d(in_chans, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.norm(x))


class MbConvStages(nn.Module):
    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        self.stem = Stem(3, cfg.stem_width)
        stages = []
        in_chs = cfg.stem_width
        for width, depth in zip(cfg.stage_widths, cfg.stage_depths):
            stages.append(nn.Sequential(*[
                MbConvLNBlock(in_chs if d == 0 else width, width, 2 if d == 0 else 1, cfg.mbconv_expand)
                for d in range(depth)
            ]))
            in_chs = width
        self.stages = nn.Sequential(*stages)
        self.pool = StridedConv(cfg.stage_widths[-1], cfg.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.stages(self.stem(x)))


class HybridEmbed(nn.Module):
    """Conv backbone output [B, C, h, w] -> tokens [B, h*w, C], row-major (token = row * w + col)."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        self.backbone = MbConvStages(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x).flatten(2).transpose(1, 2)


class ViTaminEncoder(nn.Module):
    """pixels [B, 3, S, S] in [-1, 1] -> features [B, (S/16)^2, width]."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        self.patch_embed = HybridEmbed(cfg)
        self.pos_embed = nn.Parameter(torch.zeros(1, 1, cfg.width), requires_grad=False)
        self.blocks = nn.Sequential(*[Block(cfg.width, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(cfg.width, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x) + self.pos_embed
        return self.norm(self.blocks(x))


# --- Decoder: ViT trunk, then a conv upsampler mirroring the encoder's stages ---------------------------------


class Upsample2d(nn.Module):
    """Nearest x2 upsampling, then a full 3x3 conv."""

    def __init__(self, dim: int, dim_out: int):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim_out, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class InvMbConvLNBlock(nn.Module):
    """The decoder's inverse MBConv: expand, upsample inside the block when stride 2, depthwise, project."""

    def __init__(self, in_chs: int, out_chs: int, stride: int, expand: int):
        super().__init__()
        mid = out_chs * expand
        self.shortcut = make_shortcut(in_chs, out_chs, stride, Upsample2d)
        self.pre_norm = LayerNormAct2d(in_chs, apply_act=False)
        self.conv1_1x1 = nn.Conv2d(in_chs, mid, 1)
        self.up = Upsample2d(mid, mid) if stride == 2 else nn.Identity()
        self.conv2_kxk = nn.Conv2d(mid, mid, 3, padding=1, groups=mid)
        self.conv3_1x1 = nn.Conv2d(mid, out_chs, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.shortcut(x)
        x = self.up(F.gelu(self.conv1_1x1(self.pre_norm(x))))
        x = F.gelu(self.conv2_kxk(x))
        return self.conv3_1x1(x) + shortcut


class InvStem(nn.Module):
    """Last x2: upsample conv -> LayerNorm2d + GELU -> conv3x3 to RGB."""

    def __init__(self, in_chs: int, out_chs: int = 3):
        super().__init__()
        self.conv1 = Upsample2d(in_chs, in_chs)
        self.norm1 = LayerNormAct2d(in_chs)
        self.conv2 = nn.Conv2d(in_chs, out_chs, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.norm1(self.conv1(x)))


class ViTaminDecoder(nn.Module):
    """features [B, grid^2, width] -> pixels [B, 3, S, S] (unclamped; UniTok.idx_to_img clamps)."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        (w0, w1), (d0, d1), e = cfg.stage_widths, cfg.stage_depths, cfg.mbconv_expand
        self.grid = cfg.grid
        self.blocks = nn.Sequential(*[Block(cfg.width, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(cfg.width, eps=1e-6)
        self.up_conv1 = Upsample2d(cfg.width, w1)
        self.up_conv2 = nn.Sequential(*[InvMbConvLNBlock(w1, w1, 2 if d == 0 else 1, e) for d in range(d1)])
        self.up_conv3 = nn.Sequential(*[InvMbConvLNBlock(w1 if d == 0 else w0, w0, 2 if d == 0 else 1, e)
                                        for d in range(d0)])
        self.up_conv4 = InvStem(w0, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.blocks(x))
        # Released: H = W = sqrt(L). The grid is fixed by the config, which also keeps the ONNX reshape static.
        x = x.transpose(1, 2).reshape(x.shape[0], x.shape[2], self.grid, self.grid)
        return self.up_conv4(self.up_conv3(self.up_conv2(self.up_conv1(x))))
