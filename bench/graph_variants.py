"""Copies of a bundle's llm and lm_head graphs that differ in one choice, for bench/llm-step.ts:
GRAPH-acc0.onnx and GRAPH-acc4.onnx set every MatMulNBits node's accuracy_level to 0 (fp32 activations) or 4 (int8
activations inside the matmul). The weights stay where they are: each copy's external data is a hard link to the
bundle's (ORT refuses data paths that leave the model's folder, so no symlink), or a copy across file systems.

    /usr/bin/python3 bench/graph_variants.py BUNDLE OUT_DIR
"""
import os
import shutil
import sys

import onnx

GRAPHS = ("llm", "lm_head")
LEVELS = (0, 4)


def main(bundle: str, out: str) -> None:
    os.makedirs(out, exist_ok=True)
    for graph in GRAPHS:
        model = onnx.load(os.path.join(bundle, f"{graph}.onnx"), load_external_data=False)
        locations = {e.value for init in model.graph.initializer for e in init.external_data if e.key == "location"}
        for location in locations:
            link = os.path.join(out, location)
            if os.path.lexists(link):
                os.remove(link)  # a stale link to an older bundle's data
            try:
                os.link(os.path.join(bundle, location), link)
            except OSError:
                shutil.copyfile(os.path.join(bundle, location), link)
        for level in LEVELS:
            for node in model.graph.node:
                if node.op_type == "MatMulNBits":
                    for attr in node.attribute:
                        if attr.name == "accuracy_level":
                            attr.i = level
            onnx.save(model, os.path.join(out, f"{graph}-acc{level}.onnx"))
            print(f"wrote {out}/{graph}-acc{level}.onnx")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
