"""Export the UniTok tokenizer to ONNX (opset 17, torch 1.13's exporter) and load released checkpoints.

Graphs written into one folder, with unitok_config.json describing sizes, IO and preprocessing:
  unitok_encode.onnx      pixel_values f32 [B,3,S,S] in [-1,1] -> codes i64 [B,K,N]   (quantiser inside)
  unitok_decode.onnx      codes i64 [B,K,N] -> pixels f32 [B,3,S,S] in [-1,1]
  unitok_clip_image.onnx  codes i64 [B,K,N] -> image_embeds f32 [B,E] (L2-normalised)
  unitok_clip_text.onnx   input_ids i64 [B,T] -> text_embeds f32 [B,E] (L2-normalised)
  plus the CLIP text tokenizer's file and unitok_config.json's "clip" section (clip_files.py).
Codebooks are pre-normalised into one [K*size, code_dim] table at export, so the graphs hold no F.normalize of
weights; the per-chunk normalisation of the latent stays in the encode graph.

Command: python3 -m unitok export-tokenizer (--random [--seed N] --config NAME | --checkpoint unitok_tokenizer.pth)
--out DIR. Nothing is left in DIR on failure: graphs are written to a sibling temp folder and renamed at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
import warnings

import onnx
import torch
import torch.nn.functional as F
from torch import nn

from ..config import TokenizerConfig, config_from_released_args, get_tokenizer_config, released_args
from ..modules.unitok import UniTok, init_random
from .clip_files import write_clip_files
from .onnx_io import atomic_output_dir, save_onnx

OPSET = 17
FORMAT_VERSION = 1
GRAPH_FILES = {
    "encode": "unitok_encode.onnx",
    "decode": "unitok_decode.onnx",
    "clip_image": "unitok_clip_image.onnx",
    "clip_text": "unitok_clip_text.onnx",
}


# --- Graph wrappers: what each ONNX graph computes, in the released math ---------------------------------------


class CodeLookup(nn.Module):
    """codes [B, K, N] -> normalised code vectors concatenated per token [B, N, K*d] (quantizer.idx_to_f)."""

    def __init__(self, model: UniTok):
        super().__init__()
        cfg = model.cfg
        self.register_buffer("table", model.quantizer.normalized_table().detach().clone())
        self.register_buffer("offsets", (torch.arange(cfg.num_codebooks) * cfg.codebook_size).view(1, -1, 1))

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        B, K, N = codes.shape
        f = F.embedding(codes + self.offsets, self.table)  # [B, K, N, d]
        return f.permute(0, 2, 1, 3).reshape(B, N, -1)


class EncodeGraph(nn.Module):
    def __init__(self, model: UniTok):
        super().__init__()
        cfg = model.cfg
        self.encoder, self.quant_proj = model.encoder, model.quant_proj
        self.K, self.d = cfg.num_codebooks, cfg.code_dim
        table = model.quantizer.normalized_table().detach().clone()
        self.register_buffer("table_t", table.view(self.K, cfg.codebook_size, self.d).transpose(1, 2).contiguous())

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        f = self.quant_proj(self.encoder(pixel_values))  # [B, N, K*d]
        B, N, _ = f.shape
        f = F.normalize(f.reshape(B, N, self.K, self.d), dim=-1).permute(0, 2, 1, 3)  # [B, K, N, d]
        # Cosine similarity against every row of codebook k at once: [B,K,N,d] @ [K,d,size] -> [B,K,N,size].
        return torch.argmax(torch.matmul(f, self.table_t), dim=-1)


class DecodeGraph(nn.Module):
    def __init__(self, model: UniTok):
        super().__init__()
        self.lookup, self.post_quant_proj, self.decoder = CodeLookup(model), model.post_quant_proj, model.decoder

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.post_quant_proj(self.lookup(codes))).clamp(-1, 1)


class ClipImageGraph(nn.Module):
    def __init__(self, model: UniTok):
        super().__init__()
        self.lookup, self.post_quant_proj = CodeLookup(model), model.post_quant_proj
        self.fc_norm, self.projection = model.fc_norm, model.projection

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        f = self.post_quant_proj(self.lookup(codes))
        return F.normalize(self.projection(self.fc_norm(f.mean(dim=1))), dim=-1)


class ClipTextGraph(nn.Module):
    def __init__(self, model: UniTok):
        super().__init__()
        self.text_encoder = model.text_encoder

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_encoder(input_ids), dim=-1)


def _graph_specs(model: UniTok) -> dict:
    """name -> (wrapper, example input, input name, output name, dynamic axes)."""
    cfg = model.cfg
    codes = torch.zeros(1, cfg.num_codebooks, cfg.num_tokens, dtype=torch.int64)
    return {
        "encode": (EncodeGraph(model), torch.zeros(1, 3, cfg.img_size, cfg.img_size), "pixel_values", "codes",
                   {"pixel_values": {0: "B"}, "codes": {0: "B"}}),
        "decode": (DecodeGraph(model), codes, "codes", "pixels", {"codes": {0: "B"}, "pixels": {0: "B"}}),
        "clip_image": (ClipImageGraph(model), codes, "codes", "image_embeds",
                       {"codes": {0: "B"}, "image_embeds": {0: "B"}}),
        "clip_text": (ClipTextGraph(model), torch.zeros(1, cfg.text_context_length, dtype=torch.int64), "input_ids",
                      "text_embeds", {"input_ids": {0: "B"}, "text_embeds": {0: "B"}}),
    }


def tokenizer_manifest(cfg: TokenizerConfig, source: str) -> dict:
    """unitok_config.json: everything a runtime needs besides the graphs."""
    return {
        "format": "unitok-tokenizer",
        "format_version": FORMAT_VERSION,
        "source": source,
        "config": cfg.to_dict(),
        "graphs": GRAPH_FILES,
        "preprocess": {
            "pad_to_square_rgb": list(cfg.pad_color),  # expand2square, image centred
            "resize": [cfg.img_size, cfg.img_size],
            "resample": "bilinear",
            "range": [-1.0, 1.0],  # x / 127.5 - 1
            "layout": "NCHW",
        },
        "postprocess": {"range": [-1.0, 1.0], "to_uint8": "round((x + 1) * 127.5), clamp 0..255"},
        "codes": {"dtype": "int64", "shape": ["B", cfg.num_codebooks, cfg.num_tokens], "order": "codebook-major",
                  "token_order": "row-major"},
    }


def export_tokenizer_graphs(model: UniTok, out_dir: str, graphs=tuple(GRAPH_FILES), source: str = "random",
                            log=print, clip_words: dict | None = None) -> dict:
    """Write the tokenizer graphs, the CLIP text tokenizer file and unitok_config.json into out_dir (which must
    exist). `clip_words`: a closed word vocabulary for the text tower (clip_files.words_vocabulary). Returns the
    manifest."""
    model = model.eval()
    specs = _graph_specs(model)
    for name in graphs:
        wrapper, example, in_name, out_name, axes = specs[name]
        t0 = time.time()
        path = os.path.join(out_dir, GRAPH_FILES[name])
        tmp = path + ".torch-export"
        with torch.no_grad(), warnings.catch_warnings():
            # torch 1.13 warns about constant shape inference on every traced graph; it is harmless here.
            warnings.filterwarnings("ignore", message="The shape inference of prim::Constant")
            torch.onnx.export(wrapper, (example,), tmp, opset_version=OPSET, input_names=[in_name],
                              output_names=[out_name], dynamic_axes=axes, do_constant_folding=True)
        proto = onnx.load(tmp)
        os.remove(tmp)
        proto.producer_name, proto.doc_string = "unitok-toolkit", f"UniTok {model.cfg.name} {name} ({source})"
        size = save_onnx(proto, path)
        log(f"  {GRAPH_FILES[name]:<24} {size / 2**20:8.1f} MiB  {time.time() - t0:5.1f}s")
    manifest = tokenizer_manifest(model.cfg, source)
    manifest["clip"] = write_clip_files(model, out_dir, clip_words)
    tok = manifest["clip"]["text_tokenizer"]
    log(f"  CLIP text tokenizer: {tok['type'] + ' (' + tok['file'] + ')' if tok else 'none'}, "
        f"logit scale {manifest['clip']['logit_scale']:.4g}")
    with open(os.path.join(out_dir, "unitok_config.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    return manifest


# --- Released checkpoints -------------------------------------------------------------------------------------


class CheckpointMismatchError(ValueError):
    """The checkpoint does not fit the architecture; `problems` lists every missing, unexpected or mis-shaped key."""

    SHOWN = 60

    def __init__(self, problems: list[str], hint: str = ""):
        self.problems = problems
        counts = {kind: sum(p.startswith(kind) for p in problems) for kind in ("missing", "unexpected", "shape")}
        head = (f"checkpoint does not match the architecture: {counts['missing']} missing, "
                f"{counts['unexpected']} unexpected, {counts['shape']} mis-shaped key(s){hint}")
        shown = problems[: self.SHOWN]
        more = [f"... and {len(problems) - len(shown)} more"] if len(problems) > len(shown) else []
        super().__init__(head + "\n  " + "\n  ".join(shown + more))


class _Stub:
    """Stands in for a class of the training repo: keeps whatever state the pickle gives it."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state):
        self.__dict__.update(state if isinstance(state, dict) else {"state": state})


class _TolerantUnpickler(pickle.Unpickler):
    """The released `args` may pickle classes of the training repo (utils.config.Args); load them as plain stubs."""

    def find_class(self, module, name):
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return type(name, (_Stub,), {"__module__": module})


class _tolerant_pickle:  # a `pickle_module` for torch.load
    Unpickler = _TolerantUnpickler
    load = staticmethod(lambda f, **kw: _TolerantUnpickler(f, **kw).load())


def check_state_dict(model: nn.Module, sd: dict) -> list[str]:
    expected = model.state_dict()
    problems = [f"missing: {k} {tuple(v.shape)}" for k, v in expected.items() if k not in sd]
    problems += [f"unexpected: {k} {tuple(getattr(v, 'shape', ()))}" for k, v in sd.items() if k not in expected]
    problems += [f"shape mismatch: {k} checkpoint {tuple(sd[k].shape)} vs model {tuple(v.shape)}"
                 for k, v in expected.items() if k in sd and tuple(sd[k].shape) != tuple(v.shape)]
    return problems


def save_released_tokenizer(model: UniTok, path: str) -> None:
    """Write a checkpoint in the released unitok_tokenizer.pth layout (used by tests and random checkpoints)."""
    torch.save({"args": released_args(model.cfg), "trainer": {"unitok": model.state_dict()}}, path)


def load_released_tokenizer(path: str, config_name: str | None = None) -> tuple[UniTok, TokenizerConfig]:
    """Read unitok_tokenizer.pth (weights under ['trainer']['unitok'], config under ['args'])."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"tokenizer checkpoint not found: {path}")
    # Debian's torch 1.13 ignores `pickle_module` unless weights_only; swap the module it falls back to as well.
    saved = torch.serialization.pickle
    try:
        torch.serialization.pickle = _tolerant_pickle
        ckpt = torch.load(path, map_location="cpu", pickle_module=_tolerant_pickle)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a bad file; name the file and cause
        raise ValueError(f"cannot read {path} as a PyTorch checkpoint: {e}") from e
    finally:
        torch.serialization.pickle = saved
    if not isinstance(ckpt, dict) or "trainer" not in ckpt or "unitok" not in (ckpt["trainer"] or {}):
        keys = list(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{path}: expected the released layout {{'args', 'trainer': {{'unitok': ...}}}}, got {keys}")
    args = ckpt.get("args") or {}
    if not isinstance(args, dict):
        args = dict(getattr(args, "__dict__", {}))
    base = get_tokenizer_config(config_name) if config_name else None
    cfg = config_from_released_args(args, base)
    sd = ckpt["trainer"]["unitok"]
    if sd and all(k.startswith("module.") for k in sd):  # saved from a DDP wrapper
        sd = {k[len("module."):]: v for k, v in sd.items()}
    model = UniTok(cfg)
    problems = check_state_dict(model, sd)
    if problems:
        hint = "" if config_name else f" (sizes taken from args model={args.get('model')!r}; pass --config)"
        raise CheckpointMismatchError(problems, hint)
    model.load_state_dict(sd)
    return model.eval(), cfg


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m unitok export-tokenizer", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="released unitok_tokenizer.pth")
    src.add_argument("--random", action="store_true", help="seeded random weights (for tests and benchmarks)")
    ap.add_argument("--config", help="size preset (random: required; checkpoint: overrides the encoder preset)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--graphs", default=",".join(GRAPH_FILES), help="comma-separated subset of " + ",".join(GRAPH_FILES))
    ap.add_argument("--out", required=True, help="output folder (must not exist, or be empty)")
    args = ap.parse_args(argv)
    graphs = [g for g in args.graphs.split(",") if g]
    unknown = [g for g in graphs if g not in GRAPH_FILES]
    if unknown:
        ap.error(f"unknown graph(s) {unknown}; choose from {list(GRAPH_FILES)}")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    try:
        if args.random:
            if not args.config:
                ap.error("--random needs --config")
            cfg = get_tokenizer_config(args.config)
            model, source = init_random(UniTok(cfg), args.seed), f"random seed {args.seed}"
        else:
            model, cfg = load_released_tokenizer(args.checkpoint, args.config)
            source = os.path.basename(args.checkpoint)
    except (ValueError, KeyError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"exporting UniTok '{cfg.name}' ({sum(p.numel() for p in model.parameters()) / 1e6:.1f} M params) "
          f"from {source} to {args.out}", file=sys.stderr)
    with atomic_output_dir(args.out) as tmp:
        export_tokenizer_graphs(model, tmp, graphs, source, log=lambda s: print(s, file=sys.stderr))
    return 0
