"""Tensors shared with the TypeScript tests: one raw little-endian .bin per tensor plus tensors.json.

The format is deliberately trivial so test/helpers/tensors.ts reads it without a numpy parser.
"""
from __future__ import annotations

import json
import os

import numpy as np

_DTYPES = {"float32": np.float32, "float16": np.float16, "int64": np.int64, "int32": np.int32, "uint8": np.uint8}


def save_tensors(directory: str, tensors: dict, meta: dict | None = None) -> None:
    os.makedirs(directory, exist_ok=True)
    index = {}
    for name, value in tensors.items():
        arr = np.ascontiguousarray(value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value))
        if arr.dtype.name not in _DTYPES:
            raise TypeError(f"tensor {name}: unsupported dtype {arr.dtype}")
        arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        with open(os.path.join(directory, f"{name}.bin"), "wb") as f:
            f.write(arr.tobytes())
        index[name] = {"dtype": arr.dtype.name, "shape": list(arr.shape)}
    with open(os.path.join(directory, "tensors.json"), "w") as f:
        json.dump({"tensors": index, "meta": meta or {}}, f, indent=1)


def load_tensors(directory: str) -> tuple[dict, dict]:
    with open(os.path.join(directory, "tensors.json")) as f:
        index = json.load(f)
    out = {}
    for name, spec in index["tensors"].items():
        arr = np.fromfile(os.path.join(directory, f"{name}.bin"), dtype=_DTYPES[spec["dtype"]])
        out[name] = arr.reshape(spec["shape"])
    return out, index["meta"]
