"""Graphs for bench/matmul-nbits.ts: the int4 Linear layers of Llama-2-7B decoder layers as bare MatMulNBits nodes,
one graph per (block_size, accuracy_level), to see how close the CPU kernel comes to the memory bandwidth at
batch 1, i.e. what bounds bench/llm7b.ts's decode rate. Random packed weights (timing only): per layer qkv
4096 -> 12288, o 4096 -> 4096, gate_up 4096 -> 22016 and down 11008 -> 4096, the project's packed layout.

    /usr/bin/python3 bench/matmul_nbits.py OUT_DIR [--layers 4] [--blocks 32,128] [--levels 0,4]

Each node reads the graph input of its width and is a graph output, so ORT runs every one per call; weights are
far larger than the caches (4 layers: 809 M weights, 0.43 GB at block 32).
"""
import argparse
import os
import sys

import numpy as np
from onnx import TensorProto

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from unitok.export.onnx_builder import MS, GraphBuilder  # noqa: E402

D, FF = 4096, 11008
LINEARS = (("qkv", D, 3 * D), ("o", D, D), ("gate_up", D, 2 * FF), ("down", FF, D))  # name, K, N


def build(out: str, layers: int, block: int, level: int) -> str:
    rng = np.random.default_rng(0)
    g = GraphBuilder(f"matmul-b{block}-acc{level}", out)
    with g:
        x = {D: g.input("x4096", TensorProto.FLOAT, ["batch", D]), FF: g.input("x11008", TensorProto.FLOAT, ["batch", FF])}
        for layer in range(layers):
            for name, k, n in LINEARS:
                blocks = -(-k // block)
                packed = rng.integers(0, 256, (n, blocks, block // 2), dtype=np.uint8)
                scales = rng.uniform(0.001, 0.01, (n, blocks)).astype(np.float32)
                y = g.op("MatMulNBits", [x[k], g.weight(f"{layer}.{name}.q4", packed), g.weight(f"{layer}.{name}.s", scales)],
                         name=f"/{layer}/{name}", domain=MS, K=k, N=n, bits=4, block_size=block, accuracy_level=level)
                g.output(y, f"y.{layer}.{name}", TensorProto.FLOAT, ["batch", n])
        return g.save()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--blocks", default="32,128")
    ap.add_argument("--levels", default="0,4")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for block in map(int, args.blocks.split(",")):
        for level in map(int, args.levels.split(",")):
            print("wrote", build(args.out, args.layers, block, level), flush=True)
