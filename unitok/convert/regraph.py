"""`python3 -m unitok regraph BUNDLE`: bring a converted bundle to the current bundle format without its checkpoint.

Bundle format 3 changed the llm graph's nodes (it returns only the new positions' keys and values), not its weights.
So a format-2 bundle need not be converted again: its decoder graphs are rebuilt from the bundle's own
mllm_graphs.json with stand-in weights (layout_only: nothing is written but the graph) into a scratch folder, and
kept only if every weight they name lies at the same offset with the same length in the bundle's existing data
files, so those serve the new graphs unchanged. Then the .onnx files and, last, config.json's format_version are
replaced. Anything else is refused and nothing in the bundle changes; an interrupted run can be run again.

`--rebuild` does the same to a bundle already at the current format: its decoder graphs are rebuilt by this
version of the converter (later changes within a format change nodes only, e.g. the lm_head's faster int8 tail
and argmax), with the same checks.

    python3 -m unitok regraph models/my-7b [--keep OLD_DIR] [--rebuild]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import onnx

from ..export.mllm_graphs import INT4_BLOCK_SIZE, build_mllm_graphs
from ..mllm_config import MLLMConfig
from .bundle_config import FORMAT_VERSION
from .mllm_checkpoint import mllm_specs

# The graphs whose nodes changed since format 2: llm (new keys/values only), lm_head (an argmax output);
# depth_head is rebuilt alike.
GRAPHS = ("llm", "lm_head", "depth_head")
REGRAPHABLE = (2,)  # format 1 had no lm_head graph: its weights are laid out differently


class RegraphError(Exception):
    pass


def _external(path: str) -> dict:
    """name -> (data file, offset, length) of the graph's external initializers."""
    model = onnx.load(path, load_external_data=False)
    out = {}
    for t in model.graph.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            d = {e.key: e.value for e in t.external_data}
            out[t.name] = (d["location"], int(d.get("offset", 0)), int(d["length"]))
    return out


class _StandIns:
    """Zero tensors of the released layout's shapes: a converted graph's structure depends on shapes only."""

    def __init__(self, cfg: MLLMConfig):
        self.shapes = {k: shape for k, (shape, _) in mllm_specs(cfg).items()}

    def keys(self):
        return self.shapes.keys()

    def __getitem__(self, key):
        return np.zeros(self.shapes[key], np.float32)


def regraph(bundle: str, keep: str | None = None, rebuild: bool = False) -> str:
    """Rewrites the bundle's decoder graphs for FORMAT_VERSION; returns what was done, in a sentence."""
    config_path = os.path.join(bundle, "config.json")
    if not os.path.isfile(config_path):
        raise RegraphError(f"{bundle}: no config.json; not a UniTok bundle")
    with open(config_path) as f:
        config = json.load(f)
    version = config.get("format_version")
    if config.get("format") != "unitok-bundle":
        raise RegraphError(f"{config_path}: not a UniTok bundle config")
    if version == FORMAT_VERSION and not rebuild:
        return (f"{bundle} is already bundle format {FORMAT_VERSION}; nothing to do (--rebuild rebuilds its graphs "
                f"with this converter anyway)")
    if version not in REGRAPHABLE and version != FORMAT_VERSION:
        raise RegraphError(f"{bundle} is bundle format {version}; only format "
                           f"{', '.join(map(str, REGRAPHABLE))} can be regraphed: convert the checkpoint again")
    with open(os.path.join(bundle, config.get("mllm_graphs", "mllm_graphs.json"))) as f:
        manifest = json.load(f)
    int4 = manifest.get("int4") or {}
    cfg = MLLMConfig.from_dict(manifest["config"])
    with tempfile.TemporaryDirectory(prefix=".regraph-", dir=bundle) as scratch:
        build_mllm_graphs(_StandIns(cfg), cfg, manifest["precision"], scratch, graphs=GRAPHS,
                          int4_accuracy_level=int4.get("accuracy_level", 4),
                          int4_block_size=int4.get("block_size", INT4_BLOCK_SIZE),
                          lm_head_bits=int4.get("lm_head_bits", 4), layout_only=True)
        for g in GRAPHS:
            new, old = _external(os.path.join(scratch, f"{g}.onnx")), _external(os.path.join(bundle, f"{g}.onnx"))
            moved = sorted(n for n in new if old.get(n) != new[n])
            if moved:
                raise RegraphError(f"{bundle}: {g}.onnx: {len(moved)} weights would not be where the data file has "
                                   f"them (first: {moved[0]}: {old.get(moved[0])} -> {new[moved[0]]}); convert the "
                                   f"checkpoint again")
        if keep:
            os.makedirs(keep, exist_ok=True)
            for name in ("config.json", *(f"{g}.onnx" for g in GRAPHS)):
                shutil.copy2(os.path.join(bundle, name), os.path.join(keep, name))
        for g in GRAPHS:
            src = os.path.join(scratch, f"{g}.onnx")
            config["files"][f"{g}.onnx"] = os.path.getsize(src)
            os.replace(src, os.path.join(bundle, f"{g}.onnx"))
        config["format_version"] = FORMAT_VERSION
        tmp = os.path.join(scratch, "config.json")
        with open(tmp, "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")  # as convert writes it
        os.replace(tmp, config_path)  # last: until here the server refuses the bundle as format 2
    return f"{bundle}: {', '.join(GRAPHS)} rebuilt for bundle format {FORMAT_VERSION}; weights unchanged"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m unitok regraph", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundle", help="the bundle folder (written by python3 -m unitok convert)")
    ap.add_argument("--keep", help="copy the files it replaces here first (config.json and the graphs)")
    ap.add_argument("--rebuild", action="store_true",
                    help="rebuild the graphs of a bundle already at the current format (weights unchanged)")
    args = ap.parse_args(argv)
    try:
        print(regraph(args.bundle, args.keep, args.rebuild))
    except RegraphError as err:
        print(f"regraph: {err}", file=sys.stderr)
        return 1
    return 0
