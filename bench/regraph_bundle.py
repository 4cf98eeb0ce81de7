"""Rewrite a converted bundle's decoder graphs (llm, depth_head) for the current bundle format without the checkpoint.

For the benchmarks' large random bundles (bench/make_bench_bundle.py deletes the 14 GiB checkpoint once converted):
when a format change touches only the graphs' nodes, not their weights, the new graphs are built with stand-in
weights of the right shapes into a scratch folder, and kept only if every external initializer they name has the
same offset and length in the bundle's existing .onnx.data (so the old data file serves them unchanged); then the
.onnx files, config.json's format_version and file sizes are replaced. Anything else refuses and writes nothing.

    /usr/bin/python3 bench/regraph_bundle.py build/bench7b/bundle [--keep OLD_DIR]
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import onnx

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from unitok.convert.bundle_config import FORMAT_VERSION  # noqa: E402
from unitok.convert.mllm_checkpoint import mllm_specs  # noqa: E402
from unitok.export import mllm_graphs  # noqa: E402
from unitok.mllm_config import MLLMConfig  # noqa: E402

GRAPHS = ("llm", "depth_head")


def external(path: str) -> dict:
    m = onnx.load(path, load_external_data=False)
    out = {}
    for t in m.graph.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            d = {e.key: e.value for e in t.external_data}
            out[t.name] = (d["location"], int(d.get("offset", 0)), int(d["length"]))
    return out


def main(bundle: str, keep: str | None) -> None:
    manifest = json.load(open(os.path.join(bundle, "mllm_graphs.json")))
    cfg = MLLMConfig.from_dict(manifest["config"])
    int4 = manifest["int4"] or {}
    shapes = {k: shape for k, (shape, _) in mllm_specs(cfg).items()}

    class Zeros:  # stand-in weights: the converter's layout depends on shapes only
        def keys(self):
            return shapes.keys()

        def __getitem__(self, key):
            return np.zeros(shapes[key], np.float32)

    # Quantising zeros is slow at 7B and gives the same shapes as any weights: stand-ins of the packed layout.
    def quantize_int4(w, block_size):
        n, k = w.shape
        kb = -(-k // block_size)
        return np.zeros((n, kb, block_size // 2), np.uint8), np.zeros((n, kb), np.float32)

    mllm_graphs.quantize_int4 = quantize_int4
    with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(bundle))) as scratch:
        mllm_graphs.build_mllm_graphs(Zeros(), cfg, manifest["precision"], scratch, graphs=GRAPHS,
                                      int4_accuracy_level=int4.get("accuracy_level", 4),
                                      int4_block_size=int4.get("block_size", mllm_graphs.INT4_BLOCK_SIZE),
                                      lm_head_bits=int4.get("lm_head_bits", 4))
        for g in GRAPHS:
            new, old = external(os.path.join(scratch, f"{g}.onnx")), external(os.path.join(bundle, f"{g}.onnx"))
            moved = [n for n in new if old.get(n) != new[n]]
            if moved:
                raise SystemExit(f"{g}: {len(moved)} weights differ in place or size (first: {moved[0]}, "
                                 f"{old.get(moved[0])} -> {new[moved[0]]}); convert the checkpoint again")
        if keep:
            os.makedirs(keep, exist_ok=True)
            for name in ("config.json", *(f"{g}.onnx" for g in GRAPHS)):
                shutil.copy2(os.path.join(bundle, name), os.path.join(keep, name))
        config = json.load(open(os.path.join(bundle, "config.json")))
        for g in GRAPHS:
            src = os.path.join(scratch, f"{g}.onnx")
            config["files"][f"{g}.onnx"] = os.path.getsize(src)
            os.replace(src, os.path.join(bundle, f"{g}.onnx"))
        config["format_version"] = FORMAT_VERSION
        with open(os.path.join(bundle, "config.json.tmp"), "w") as f:
            json.dump(config, f, indent=2)
        os.replace(os.path.join(bundle, "config.json.tmp"), os.path.join(bundle, "config.json"))
    print(f"{bundle}: {', '.join(GRAPHS)} rewritten for bundle format {FORMAT_VERSION}; weights unchanged")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundle")
    ap.add_argument("--keep", help="copy the replaced files here first (config.json and the two graphs)")
    args = ap.parse_args()
    main(args.bundle, args.keep)
