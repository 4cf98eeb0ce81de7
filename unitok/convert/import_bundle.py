"""Read a converted bundle back into the checkpoints the toolkit trains from.

    python3 -m unitok import-bundle --bundle models/demo --out runs/imported

Writes --out/unitok_tokenizer.pth (the released tokenizer layout) and --out/mllm/ (the released MLLM folder), the
files `evaluate`, `train-tokenizer --decoder-only / --clip-only` and `train-mllm --init-from` start from. A
training session's run folder does not outlive its machine, but the bundle is committed: this is how a later
session measures or fine-tunes the shipped demo model without rebuilding it (docs/demo-training.md).

The tokenizer comes back exactly (its graphs are float32). The MLLM comes back as the bundle computes it: int4
Linears dequantised, the int8 lm_head dequantised, fp16 tables widened; training-only state (optimiser moments,
the layout read-outs, codebook usage counts) is not in a bundle and starts afresh.

How: a probe. A model of the bundle's configuration whose every float holds its own index (1, 2, 3, ... exact in
float32 up to 2^24) is exported the way the bundle was (float32 for the MLLM). Each initializer of the probe then
says, element by element, which checkpoint element it holds, whatever transposes, slices, packings or
concatenations the export made, and the bundle's initializer of the same name is read through that map. The
tensors an export computes rather than copies (the normalised codebooks) are set from the tables the graphs hold;
every checkpoint element must be accounted for, or the import fails and writes nothing.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from ..config import get_tokenizer_config
from ..export.int4 import dequantize_int4
from ..export.int8 import dequantize_int8_rows
from ..export.onnx_io import atomic_output_dir
from ..export.tokenizer_onnx import GRAPH_FILES, export_tokenizer_graphs, save_released_tokenizer
from ..mllm_config import get_mllm_config
from ..modules.mllm import UniTokMLLM
from ..modules.unitok import UniTok

RELEASED_TOKENIZER = "unitok_tokenizer.pth"
MAX_EXACT = 1 << 24  # float32 holds every integer up to here
FP16_ROUNDING = 2.0 ** -11  # the most float16 rounding moves a value in [-1, 1]


class ImportError_(ValueError):
    """The bundle cannot be read back (a message naming what is missing or inconsistent)."""


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def graph_initializers(path: str) -> dict[str, np.ndarray]:
    """name -> array of every initializer of one ONNX file (external data read from beside it)."""
    model = onnx.load(path)
    return {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}


def index_probe(module: torch.nn.Module) -> dict[str, tuple[int, int]]:
    """Fill every float tensor of `module`'s state dict with its elements' global indices + 1 (in state-dict
    order); returns key -> (first index, element count)."""
    spans, start = {}, 0
    with torch.no_grad():
        for key, t in module.state_dict().items():
            if not t.is_floating_point():
                continue
            t.copy_(torch.arange(start + 1, start + 1 + t.numel(), dtype=torch.float64).view(t.shape))
            spans[key] = (start, t.numel())
            start += t.numel()
    if start >= MAX_EXACT:
        raise ImportError_(f"the probe needs {start} distinct float32 integers; only {MAX_EXACT} are exact")
    return spans


class Gather:
    """Checkpoint elements (flat, by probe index) filled from the bundle's initializers through the probe's map."""

    def __init__(self, spans: dict[str, tuple[int, int]]):
        self.spans = spans
        total = sum(n for _, n in spans.values())
        self.values = np.zeros(total, np.float32)
        self.filled = np.zeros(total, bool)

    def read(self, probe: np.ndarray, actual: np.ndarray, where: str) -> bool:
        """Fill from one initializer pair; False when the probe's tensor is not a copy of checkpoint elements."""
        p = probe.astype(np.float64).ravel()
        if p.size == 0 or not np.all((p >= 1) & (p <= len(self.values)) & (p == np.round(p))):
            return False
        if actual.shape != probe.shape:
            raise ImportError_(f"{where}: shape {list(actual.shape)}, expected {list(probe.shape)}")
        idx = p.astype(np.int64) - 1
        a = actual.astype(np.float32).ravel()
        seen = self.filled[idx]
        if np.any(seen) and not np.array_equal(self.values[idx[seen]], a[seen]):
            raise ImportError_(f"{where}: disagrees with another graph's copy of the same weights")
        self.values[idx], self.filled[idx] = a, True
        return True

    def set(self, key: str, value: np.ndarray) -> None:
        start, n = self.spans[key]
        self.values[start:start + n] = np.asarray(value, np.float32).ravel()
        self.filled[start:start + n] = True

    def missing(self) -> list[str]:
        return [k for k, (s, n) in self.spans.items() if not self.filled[s:s + n].all()]

    def state_dict(self, module: torch.nn.Module) -> dict[str, torch.Tensor]:
        sd = module.state_dict()
        for key, (s, n) in self.spans.items():
            sd[key] = torch.from_numpy(self.values[s:s + n].copy()).view(sd[key].shape).to(sd[key].dtype)
        return sd


def _codebooks_from_table(gather: Gather, prefix: str, table: np.ndarray, num_codebooks: int) -> None:
    """The quantizer's codebooks from a graph's normalised table [K * size, d]: a normalised row normalises to
    itself, so the model computes the same table; usage counts start at zero."""
    size = table.shape[0] // num_codebooks
    for i in range(num_codebooks):
        gather.set(f"{prefix}.codebooks.{i}.codebook.weight", table[i * size:(i + 1) * size])
        usage = f"{prefix}.codebooks.{i}.vocab_usage"
        if usage in gather.spans:
            gather.set(usage, np.zeros(gather.spans[usage][1], np.float32))


def _read_graphs(gather: Gather, probe_dir: str, bundle_dir: str, files: list[str], widen=None) -> None:
    for file in files:
        probe, actual = graph_initializers(os.path.join(probe_dir, file)), graph_initializers(os.path.join(bundle_dir, file))
        if widen:
            actual = widen(actual)
        for name, p in probe.items():
            if not np.issubdtype(p.dtype, np.floating):
                continue
            if name not in actual:
                raise ImportError_(f"{file}: initializer {name!r} is missing (a bundle of another format version? "
                                   "run `python3 -m unitok regraph` on it first)")
            gather.read(p, actual[name], f"{file}:{name}")


def import_tokenizer(bundle: str, config_name: str, work: str) -> UniTok:
    cfg = get_tokenizer_config(config_name)
    probe = UniTok(cfg)
    gather = Gather(index_probe(probe))
    probe_dir = os.path.join(work, "tokenizer-probe")
    os.makedirs(probe_dir)
    export_tokenizer_graphs(probe, probe_dir, log=lambda _msg: None)
    _read_graphs(gather, probe_dir, bundle, list(GRAPH_FILES.values()))
    table = graph_initializers(os.path.join(bundle, GRAPH_FILES["decode"]))["lookup.table"]
    _codebooks_from_table(gather, "quantizer", table, cfg.num_codebooks)
    with open(os.path.join(bundle, "unitok_config.json")) as f:
        scale = json.load(f)["clip"]["logit_scale"]
    gather.set("logit_scale", np.full(gather.spans["logit_scale"][1], np.log(scale), np.float32))
    _check_complete(gather, "tokenizer")
    model = UniTok(cfg)
    model.load_state_dict(gather.state_dict(model))
    return model.eval()


def _widen_mllm(arrays: dict[str, np.ndarray], nodes: dict[str, dict], file: str) -> dict[str, np.ndarray]:
    """The int4 / int8 / fp16 initializers of an MLLM graph as the float32 conversion names and lays them out:
    `X.weight` = W^T [K, N] for MatMulNBits' X.weight_q4 + X.scales and MatMulIntegerToFloat's X.weight_q8 +
    X.scales; fp16 tables as float32."""
    out = {}
    for name, a in arrays.items():
        base = name.rsplit(".", 1)[0]
        if name.endswith((".weight_q4", ".weight_q8")) and f"{base}.scales" not in arrays:
            raise ImportError_(f"{file}: {name} has no {base}.scales beside it")
        if name.endswith(".weight_q4"):
            w = dequantize_int4(a, arrays[f"{base}.scales"].astype(np.float32), nodes[name]["K"])
            out[f"{base}.weight"] = np.ascontiguousarray(w.T)
        elif name.endswith(".weight_q8"):
            out[f"{base}.weight"] = dequantize_int8_rows(np.ascontiguousarray(a.T), arrays[f"{base}.scales"]).T
        elif a.dtype == np.float16:
            out[name] = a.astype(np.float32)
        else:
            out[name] = a
    return out


def _quantized_inputs(path: str) -> dict[str, dict]:
    """weight initializer name -> the attributes of the MatMulNBits node that reads it (K, N, block_size)."""
    model = onnx.load(path, load_external_data=False)
    found = {}
    for node in model.graph.node:
        if node.op_type == "MatMulNBits":
            found[node.input[1]] = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    return found


def import_mllm(bundle: str, config: dict, tokenizer: UniTok, work: str) -> UniTokMLLM:
    from ..demo.train_mllm import save_hf_folder
    from .convert import convert

    cfg = get_mllm_config(config["source"]["mllm_config"])
    probe = UniTokMLLM(cfg)
    gather = Gather(index_probe(probe))
    probe_mllm, probe_bundle = os.path.join(work, "mllm-probe"), os.path.join(work, "mllm-probe-bundle")
    save_hf_folder(probe, probe_mllm)
    save_released_tokenizer(tokenizer, os.path.join(work, RELEASED_TOKENIZER))
    log = io.StringIO()
    try:  # the probe's conversion talks about its index-valued weights: shown only if it fails
        with contextlib.redirect_stderr(log):
            convert(os.path.join(work, RELEASED_TOKENIZER), probe_mllm, probe_bundle, "fp32",
                    config["source"]["tokenizer_config"], config["source"]["mllm_config"])
    except BaseException:
        sys.stderr.write(log.getvalue())
        raise
    with open(os.path.join(bundle, "mllm_graphs.json")) as f:
        files = sorted(set(json.load(f)["graphs"].values()))
    for file in files:
        nodes = _quantized_inputs(os.path.join(bundle, file))
        _read_graphs(gather, probe_bundle, bundle, [file], widen=lambda arrays, n=nodes, f=file: _widen_mllm(arrays, n, f))
    # The MLLM's codebooks are a frozen copy of the tokenizer's (train-mllm copies them), which the bundle holds in
    # float32; its own table is that copy in float16.
    table = graph_initializers(os.path.join(bundle, "visual_embed.onnx"))["model.multi_embedder.quantizer.normalized_table"]
    exact = torch.cat([cb.codebook.weight for cb in tokenizer.quantizer.codebooks]).detach().numpy()
    if exact.shape == table.shape and np.abs(exact - table.astype(np.float32)).max() <= FP16_ROUNDING:
        table = exact
    _codebooks_from_table(gather, "model.multi_embedder.quantizer", table.astype(np.float32), cfg.num_codebooks)
    _check_complete(gather, "MLLM")
    model = UniTokMLLM(cfg)
    model.load_state_dict(gather.state_dict(model))
    return model.eval()


def _check_complete(gather: Gather, what: str) -> None:
    missing = gather.missing()
    if missing:
        raise ImportError_(f"the bundle's graphs do not hold every {what} weight; not found: "
                           f"{', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}")


def import_bundle(bundle: str, out: str) -> None:
    from ..demo.train_mllm import save_hf_folder

    with open(os.path.join(bundle, "config.json")) as f:
        config = json.load(f)
    with atomic_output_dir(out) as tmp, tempfile.TemporaryDirectory() as work:
        _log(f"tokenizer ({config['source']['tokenizer_config']}) from {bundle} ...")
        tokenizer = import_tokenizer(bundle, config["source"]["tokenizer_config"], work)
        save_released_tokenizer(tokenizer, os.path.join(tmp, RELEASED_TOKENIZER))
        _log(f"MLLM ({config['source']['mllm_config']}, {config['dtype']} in the bundle) ...")
        mllm = import_mllm(bundle, config, tokenizer, work)
        save_hf_folder(mllm, os.path.join(tmp, "mllm"))
        with open(os.path.join(tmp, "IMPORTED.json"), "w") as f:
            json.dump({"bundle": os.path.abspath(bundle), "dtype": config["dtype"]}, f, indent=2)
    _log(f"wrote {out}: {RELEASED_TOKENIZER}, mllm/")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m unitok import-bundle", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default="models/demo", help="a converted bundle folder (config.json, graphs)")
    ap.add_argument("--out", required=True, help="run folder to write (must not exist or be empty)")
    args = ap.parse_args(argv)
    try:
        import_bundle(args.bundle, args.out)
    except (ImportError_, FileNotFoundError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
