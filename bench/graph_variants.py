"""Copies of a bundle's llm graph that differ in one choice, for bench/llm-step.ts: llm-acc4.onnx sets every
MatMulNBits node's accuracy_level to 4 (int8 activations inside the matmul). The weights stay where they are: the
copy's external data is a hard link to the bundle's (ORT refuses data paths that leave the model's folder, so
no symlink), or a copy across file systems.

    /usr/bin/python3 bench/graph_variants.py BUNDLE OUT_DIR
"""
import os
import shutil
import sys

import onnx


def main(bundle: str, out: str) -> None:
    os.makedirs(out, exist_ok=True)
    model = onnx.load(os.path.join(bundle, "llm.onnx"), load_external_data=False)
    locations = {e.value for init in model.graph.initializer for e in init.external_data if e.key == "location"}
    for location in locations:
        link = os.path.join(out, location)
        if not os.path.lexists(link):
            try:
                os.link(os.path.join(bundle, location), link)
            except OSError:
                shutil.copyfile(os.path.join(bundle, location), link)
    for node in model.graph.node:
        if node.op_type == "MatMulNBits":
            for attr in node.attribute:
                if attr.name == "accuracy_level":
                    attr.i = 4
    onnx.save(model, os.path.join(out, "llm-acc4.onnx"))
    print(f"wrote {out}/llm-acc4.onnx")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
