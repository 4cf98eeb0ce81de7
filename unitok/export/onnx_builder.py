"""Op-by-op ONNX graph building with weights streamed into external data, the way onnxruntime-genai builds models.

A GraphBuilder appends nodes with onnx.helper and writes each weight to `<name>.onnx.data` the moment it is added,
so a caller can load one checkpoint tensor, hand it over and drop it: a 7B model never sits in RAM. Only small
constants stay inline in the .onnx protobuf. Models target opset 17 + com.microsoft 1, IR version 8 (onnx 1.12);
the contrib ops are unknown to onnx's checker, so graphs are validated by running them in onnxruntime instead.
"""
from __future__ import annotations

import os

import numpy as np
from onnx import TensorProto, helper, numpy_helper

OPSETS = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
IR_VERSION = 8
MS = "com.microsoft"

_ONNX_TYPES = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float16): TensorProto.FLOAT16,
               np.dtype(np.int64): TensorProto.INT64, np.dtype(np.int32): TensorProto.INT32,
               np.dtype(np.uint8): TensorProto.UINT8, np.dtype(np.int8): TensorProto.INT8}
# Like onnx >= 1.15's external-data writer: large tensors start on a 64 KiB boundary so ORT can memory-map them.
_ALIGN_LARGE, _LARGE, _ALIGN = 65536, 1 << 20, 64


def onnx_type(dtype) -> int:
    return _ONNX_TYPES[np.dtype(dtype)]


class GraphBuilder:
    """One ONNX graph under construction; `save()` writes `<out_dir>/<name>.onnx` next to its `.onnx.data`.

    layout_only: weights take their place in the data file (offsets, lengths) but are not written (a sparse file):
    for rebuilding a graph whose weights already sit in a data file elsewhere (convert/regraph.py).
    """

    def __init__(self, name: str, out_dir: str, layout_only: bool = False):
        self.name = name
        self.layout_only = layout_only
        self.path = os.path.join(out_dir, f"{name}.onnx")
        self.data_file = f"{name}.onnx.data"
        os.makedirs(out_dir, exist_ok=True)
        self._data = open(os.path.join(out_dir, self.data_file), "wb")
        self.inputs, self.outputs, self.nodes, self.initializers = [], [], [], []
        self._used = set()

    # -- graph interface ---------------------------------------------------------------------------------------
    def input(self, name: str, elem_type: int, shape: list) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def output(self, value: str, name: str, elem_type: int, shape: list, rename: bool = False) -> str:
        """Expose `value` as graph output `name`: through an Identity when the names differ, or with rename the
        node that makes `value` writes `name` instead (every later reference to `value` must use `name`)."""
        producer = next((n for n in self.nodes if value in n.output), None) if rename and value != name else None
        if producer is not None:
            producer.output[list(producer.output).index(value)] = name
            for n in self.nodes:
                n.input[:] = [name if i == value else i for i in n.input]
        elif value != name:
            self.op("Identity", [value], name=f"/output/{name}", outputs=[name])
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, shape))
        return name

    # -- tensors -----------------------------------------------------------------------------------------------
    def weight(self, name: str, array: np.ndarray) -> str:
        """Append `array` to the external data file now and reference it from the graph."""
        return self.weight_stacked(name, [array])

    def weight_stacked(self, name: str, parts) -> str:
        """One tensor made of `parts` concatenated along axis 0, written part by part (never joined in RAM)."""
        offset = length = rows = 0
        for i, part in enumerate(parts):
            part = np.ascontiguousarray(part)
            if part.ndim == 0:
                raise ValueError(f"{name}: scalars belong in constant(), not in external data")
            if i == 0:
                dtype, tail = part.dtype, part.shape[1:]
                offset = self._align(part.nbytes)
            elif (part.dtype, part.shape[1:]) != (dtype, tail):
                raise ValueError(f"{name}: part {i} is {part.dtype}{part.shape}, expected {dtype}[*, {tail}]")
            if self.layout_only:
                self._data.seek(part.nbytes, os.SEEK_CUR)
            else:
                self._data.write(part.astype(part.dtype.newbyteorder("<"), copy=False).tobytes())
            length, rows = length + part.nbytes, rows + part.shape[0]
        t = TensorProto(name=name, data_type=onnx_type(dtype), dims=(rows, *tail))
        t.data_location = TensorProto.EXTERNAL
        for key, value in (("location", self.data_file), ("offset", str(offset)), ("length", str(length))):
            entry = t.external_data.add()
            entry.key, entry.value = key, value
        self._add_initializer(t)
        return name

    def _align(self, size: int) -> int:
        align = _ALIGN_LARGE if size >= _LARGE else _ALIGN
        offset = -(-self._data.tell() // align) * align
        self._data.seek(offset)  # the gap reads as zeros
        return offset

    def constant(self, name: str, array) -> str:
        """A small tensor stored inline in the protobuf (shapes, offsets, axes)."""
        self._add_initializer(numpy_helper.from_array(np.asarray(array), name))
        return name

    def _add_initializer(self, t: TensorProto) -> None:
        if t.name in self._used:
            raise ValueError(f"{self.name}: duplicate tensor name {t.name!r}")
        self._used.add(t.name)
        self.initializers.append(t)

    # -- nodes -------------------------------------------------------------------------------------------------
    def op(self, op_type: str, inputs: list, name: str, outputs: int | list = 1, domain: str = "", **attrs):
        """Append a node called `name`; returns its output name (or list of names when `outputs` is not 1).

        outputs: a count (names become `<name>/output_<i>`) or explicit names ('' skips an optional output).
        """
        if name in self._used:
            raise ValueError(f"{self.name}: duplicate node name {name!r}")
        self._used.add(name)
        names = [f"{name}/output_{i}" for i in range(outputs)] if isinstance(outputs, int) else list(outputs)
        self.nodes.append(helper.make_node(op_type, inputs, names, name=name, domain=domain, **attrs))
        return names[0] if isinstance(outputs, int) and outputs == 1 else names

    def save(self) -> str:
        self._data.close()
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=OPSETS, producer_name="unitok")
        model.ir_version = IR_VERSION
        with open(self.path, "wb") as f:
            f.write(model.SerializeToString())
        return self.path

    def __enter__(self) -> "GraphBuilder":
        return self

    def __exit__(self, *exc) -> None:
        if not self._data.closed:
            self._data.close()
