"""A small, dependency-free safetensors reader and writer (numpy only).

File layout (https://github.com/huggingface/safetensors): an 8-byte little-endian header length N, N bytes of
JSON `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}`, then the raw
little-endian tensor bytes; offsets are relative to the end of the header.

Reading is lazy: the header is parsed and checked up front, and each tensor is read from disk only when
asked for, so a 15 GB checkpoint can be streamed tensor by tensor. BF16 (which numpy lacks) is widened
to float32 on read. The writer takes the tensor list first and then the tensors one at a time, so a large
shard never has to be held in memory whole.
"""
from __future__ import annotations

import json
import math
import os
import struct
from typing import Iterable, Iterator, Mapping

import numpy as np

# safetensors dtype name -> numpy dtype of the stored element (BF16 is read as raw uint16 bits).
DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NAME_OF = {np.dtype(v).newbyteorder("="): k for k, v in DTYPES.items() if k not in ("BF16",)}
INDEX_NAME = "model.safetensors.index.json"
SINGLE_NAME = "model.safetensors"
_MAX_HEADER = 100 * 1024 * 1024  # the reference implementation's limit


class SafetensorsError(ValueError):
    """A file is missing, truncated or not valid safetensors; the message names the file and the problem."""


def bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    """Raw bfloat16 bits (uint16) -> float32: bf16 is the top half of an IEEE float32."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(x: np.ndarray) -> np.ndarray:
    """float32 -> raw bfloat16 bits, rounding to nearest even (as torch does); NaN stays NaN."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(np.isnan(x), np.uint16(0x7FC0), rounded)


class SafetensorsFile(Mapping):
    """One .safetensors file as a lazy mapping name -> np.ndarray (a fresh array per access)."""

    def __init__(self, path: str):
        self.path = path
        try:
            size = os.path.getsize(path)
        except OSError as e:
            raise SafetensorsError(f"{path}: cannot open ({e.strerror})") from None
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise SafetensorsError(f"{path}: truncated: {size} bytes, too short for the 8-byte header length")
            (n,) = struct.unpack("<Q", head)
            if n > _MAX_HEADER or 8 + n > size:
                raise SafetensorsError(f"{path}: header length {n} does not fit the {size}-byte file (truncated or not safetensors)")
            raw = f.read(n)
        try:
            header = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise SafetensorsError(f"{path}: header is not valid JSON ({e})") from None
        if not isinstance(header, dict):
            raise SafetensorsError(f"{path}: header is not a JSON object")
        self.metadata = header.pop("__metadata__", None) or {}
        self._data_start = 8 + n
        self._data_size = size - self._data_start
        self._entries = {name: self._check_entry(name, e) for name, e in header.items()}
        self._check_layout()

    def _check_entry(self, name: str, e) -> tuple:
        where = f"{self.path}: tensor {name!r}"
        if not isinstance(e, dict) or not {"dtype", "shape", "data_offsets"} <= e.keys():
            raise SafetensorsError(f"{where}: entry needs dtype, shape and data_offsets")
        if e["dtype"] not in DTYPES:
            raise SafetensorsError(f"{where}: unsupported dtype {e['dtype']!r}")
        shape, offs = e["shape"], e["data_offsets"]
        if not all(isinstance(d, int) and d >= 0 for d in shape):
            raise SafetensorsError(f"{where}: bad shape {shape!r}")
        if not (len(offs) == 2 and all(isinstance(o, int) for o in offs) and 0 <= offs[0] <= offs[1]):
            raise SafetensorsError(f"{where}: bad data_offsets {offs!r}")
        nbytes = math.prod(shape) * DTYPES[e["dtype"]].itemsize
        if offs[1] - offs[0] != nbytes:
            raise SafetensorsError(f"{where}: {offs[1] - offs[0]} bytes stored but {e['dtype']}{shape} needs {nbytes}")
        if offs[1] > self._data_size:
            raise SafetensorsError(
                f"{where}: data ends at byte {offs[1]} but the file holds only {self._data_size} (truncated)")
        return e["dtype"], tuple(shape), offs[0], offs[1]

    def _check_layout(self) -> None:
        end = 0
        for name, (_, _, begin, stop) in sorted(self._entries.items(), key=lambda kv: kv[1][2]):
            if begin < end:
                raise SafetensorsError(f"{self.path}: tensor {name!r} overlaps the one before it")
            end = stop

    # Mapping interface: iteration is in file order, which is also the fastest order to read in.
    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries, key=lambda k: self._entries[k][2]))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name) -> bool:
        return name in self._entries

    def dtype(self, name: str) -> str:
        return self._entry(name)[0]

    def shape(self, name: str) -> tuple:
        return self._entry(name)[1]

    def nbytes(self, name: str) -> int:
        _, _, begin, end = self._entry(name)
        return end - begin

    def _entry(self, name: str) -> tuple:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"{self.path}: no tensor {name!r}") from None

    def __getitem__(self, name: str) -> np.ndarray:
        """The tensor as a new in-memory array (float32 for BF16).

        Read with a plain positioned read rather than a memory map: pages of a long-lived map count towards
        the process's resident size, which would make streaming a 15 GB checkpoint look like loading it.
        """
        dtype, shape, begin, end = self._entry(name)
        arr = np.empty(shape, dtype=DTYPES[dtype])
        with open(self.path, "rb") as f:
            f.seek(self._data_start + begin)
            if f.readinto(memoryview(arr.reshape(-1).view(np.uint8))) != end - begin:
                raise SafetensorsError(f"{self.path}: tensor {name!r}: file shrank while reading (truncated)")
        if dtype == "BF16":
            return bf16_to_f32(arr)
        return arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))


class SafetensorsCheckpoint(Mapping):
    """A checkpoint folder (sharded with model.safetensors.index.json, or one model.safetensors), or one file,
    as a single lazy mapping name -> np.ndarray."""

    def __init__(self, path: str):
        self.path = path
        if os.path.isfile(path):
            files = [path]
            self._where = None
        elif os.path.isfile(os.path.join(path, INDEX_NAME)):
            files, self._where = self._read_index(path)
        elif os.path.isfile(os.path.join(path, SINGLE_NAME)):
            files = [os.path.join(path, SINGLE_NAME)]
            self._where = None
        else:
            raise SafetensorsError(f"{path}: neither {INDEX_NAME} nor {SINGLE_NAME} found")
        self.files = {f: SafetensorsFile(f) for f in files}
        if self._where is None:
            self._where = {}
            for f, st in self.files.items():
                for name in st:
                    self._where[name] = f
        else:
            for name, f in self._where.items():
                if name not in self.files[f]:
                    raise SafetensorsError(f"{INDEX_NAME} puts {name!r} in {os.path.basename(f)}, which lacks it")
            extra = [n for f, st in self.files.items() for n in st if self._where.get(n) != f]
            if extra:
                raise SafetensorsError(f"shards hold tensors the index does not list: {', '.join(sorted(extra)[:10])}")

    @staticmethod
    def _read_index(folder: str) -> tuple[list, dict]:
        index_path = os.path.join(folder, INDEX_NAME)
        try:
            with open(index_path) as f:
                weight_map = json.load(f)["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise SafetensorsError(f"{index_path}: not a valid index (needs a 'weight_map' object): {e}") from None
        where = {name: os.path.join(folder, shard) for name, shard in weight_map.items()}
        missing = sorted({f for f in where.values() if not os.path.isfile(f)})
        if missing:
            raise SafetensorsError(f"{index_path}: shard files missing: {', '.join(map(os.path.basename, missing))}")
        return sorted(set(where.values())), where

    def __iter__(self) -> Iterator[str]:
        for f, st in self.files.items():  # shard by shard, each in file order
            yield from (n for n in st if self._where[n] == f)

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, name) -> bool:
        return name in self._where

    def _file(self, name: str) -> SafetensorsFile:
        if name not in self._where:
            raise KeyError(f"{self.path}: no tensor {name!r}")
        return self.files[self._where[name]]

    def __getitem__(self, name: str) -> np.ndarray:
        return self._file(name)[name]

    def shape(self, name: str) -> tuple:
        return self._file(name).shape(name)

    def dtype(self, name: str) -> str:
        return self._file(name).dtype(name)

    def nbytes(self, name: str) -> int:
        return self._file(name).nbytes(name)


def load_file(path: str) -> dict:
    """Every tensor of a file or checkpoint folder, in memory (for small files and tests)."""
    st = SafetensorsCheckpoint(path)
    return {name: st[name] for name in st}


# ---------------------------------------------------------------------------------------------- writing


def dtype_name(arr: np.ndarray) -> str:
    try:
        return _NAME_OF[arr.dtype.newbyteorder("=")]
    except KeyError:
        raise TypeError(f"numpy dtype {arr.dtype} has no safetensors equivalent") from None


class SafetensorsWriter:
    """Writes one file from a known tensor list: the header goes first, then `write` each tensor in order.

    specs: (name, dtype name, shape) in file order. BF16 tensors are passed as float32 and rounded here.
    Writing goes to `path + '.partial'` and is renamed on `close()`, so a crash leaves no valid-looking file.
    """

    def __init__(self, path: str, specs: Iterable[tuple[str, str, tuple]], metadata: dict | None = None):
        self.path = path
        self._specs = [(n, d, tuple(int(x) for x in s)) for n, d, s in specs]
        header, offset = {}, 0
        for name, dt, shape in self._specs:
            if dt not in DTYPES:
                raise ValueError(f"tensor {name!r}: unknown safetensors dtype {dt!r}")
            size = math.prod(shape) * DTYPES[dt].itemsize
            header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [offset, offset + size]}
            offset += size
        if metadata:
            header = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}, **header}
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)  # the reference writer pads with spaces to keep the data 8-byte aligned
        self._f = open(path + ".partial", "wb")
        self._f.write(struct.pack("<Q", len(raw)) + raw)
        self._next = 0

    def write(self, name: str, arr: np.ndarray) -> None:
        if self._next >= len(self._specs):
            raise ValueError(f"tensor {name!r}: every listed tensor has been written")
        want, dt, shape = self._specs[self._next]
        arr = np.asarray(arr)
        if name != want or arr.shape != shape:
            raise ValueError(f"expected tensor {want!r} {shape} next, got {name!r} {arr.shape}")
        if dt == "BF16":
            data = f32_to_bf16(arr)
        else:
            data = np.ascontiguousarray(arr, dtype=DTYPES[dt])
        self._f.write(data.tobytes())
        self._next += 1

    def close(self) -> None:
        if self._next != len(self._specs):
            self.abort()
            raise ValueError(f"{self.path}: closed after {self._next} of {len(self._specs)} tensors")
        self._f.close()
        os.replace(self.path + ".partial", self.path)

    def abort(self) -> None:
        self._f.close()
        if os.path.exists(self.path + ".partial"):
            os.remove(self.path + ".partial")

    def __enter__(self) -> "SafetensorsWriter":
        return self

    def __exit__(self, exc_type, *_) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def save_file(tensors: Mapping[str, np.ndarray], path: str, metadata: dict | None = None,
              dtypes: Mapping[str, str] | None = None) -> None:
    """Write in-memory tensors to one file; `dtypes` may override a tensor's stored type (e.g. 'BF16')."""
    dtypes = dtypes or {}
    specs = [(n, dtypes.get(n) or dtype_name(np.asarray(a)), np.shape(a)) for n, a in tensors.items()]
    with SafetensorsWriter(path, specs, metadata) as w:
        for name, arr in tensors.items():
            w.write(name, arr)


def plan_shards(specs: list[tuple[str, str, tuple]], max_shard_bytes: int) -> list[list[tuple[str, str, tuple]]]:
    """Split a tensor list, in order, into shards of at most max_shard_bytes (a larger tensor gets its own)."""
    shards, current, size = [], [], 0
    for spec in specs:
        n = math.prod(spec[2]) * DTYPES[spec[1]].itemsize
        if current and size + n > max_shard_bytes:
            shards.append(current)
            current, size = [], 0
        current.append(spec)
        size += n
    if current or not shards:
        shards.append(current)
    return shards


def write_sharded(folder: str, specs: list[tuple[str, str, tuple]], make_tensor, max_shard_bytes: int,
                  metadata: dict | None = None, progress=None) -> list[str]:
    """Write a sharded checkpoint the way `transformers` saves one: model-0000i-of-0000n.safetensors plus
    model.safetensors.index.json (or a single model.safetensors when it fits in one shard).

    make_tensor(name, dtype, shape) -> np.ndarray is called once per tensor, in order, so only one tensor
    is in memory at a time. progress(name, nbytes) is called after each tensor. Returns the file names.
    """
    shards = plan_shards(specs, max_shard_bytes)
    n = len(shards)
    names = [SINGLE_NAME] if n == 1 else [f"model-{i + 1:05d}-of-{n:05d}.safetensors" for i in range(n)]
    weight_map, total = {}, 0
    for fname, shard in zip(names, shards):
        with SafetensorsWriter(os.path.join(folder, fname), shard, metadata) as w:
            for name, dt, shape in shard:
                w.write(name, make_tensor(name, dt, shape))
                nbytes = math.prod(shape) * DTYPES[dt].itemsize
                weight_map[name], total = fname, total + nbytes
                if progress:
                    progress(name, nbytes)
    if n > 1:
        with open(os.path.join(folder, INDEX_NAME), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    return names + ([INDEX_NAME] if n > 1 else [])
