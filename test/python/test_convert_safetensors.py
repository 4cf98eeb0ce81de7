"""unitok/safetensors.py: round trips (every dtype, bf16 rounding, sharded folders) and clear errors on bad files."""
import json
import os
import struct

import numpy as np
import pytest

from unitok.safetensors import (INDEX_NAME, SafetensorsCheckpoint, SafetensorsError, SafetensorsFile,
                                SafetensorsWriter, bf16_to_f32, f32_to_bf16, load_file, save_file, write_sharded)


def sample_tensors():
    rng = np.random.default_rng(0)
    return {
        "f32": rng.standard_normal((3, 5)).astype(np.float32),
        "f16": rng.standard_normal((4,)).astype(np.float16),
        "f64": rng.standard_normal((2, 2)),
        "i64": np.arange(-3, 3, dtype=np.int64).reshape(2, 3),
        "i32": np.array([7, -8], np.int32),
        "u8": np.arange(10, dtype=np.uint8),
        "bool": np.array([True, False, True]),
        "scalar": np.array(2.5, np.float32),
        "empty": np.zeros((0, 4), np.float32),
    }


def test_round_trip_every_dtype(tmp_path):
    tensors = sample_tensors()
    path = str(tmp_path / "a.safetensors")
    save_file(tensors, path, metadata={"format": "pt"})
    st = SafetensorsFile(path)
    assert st.metadata == {"format": "pt"}
    assert set(st) == set(tensors)
    for name, want in tensors.items():
        got = st[name]
        assert got.dtype == want.dtype and got.shape == want.shape, name
        np.testing.assert_array_equal(got, want)
    assert struct.unpack("<Q", open(path, "rb").read(8))[0] % 8 == 0  # tensor data starts 8-byte aligned
    assert not os.path.exists(path + ".partial")


def test_bf16_rounds_to_nearest_even_and_reads_back_as_f32(tmp_path):
    # 1 + 2^-8 lies exactly between two bf16 values (1 and 1 + 2^-7): ties go to the even mantissa (1.0);
    # 1 + 3 * 2^-8 is also a tie and goes up to 1 + 2^-6.
    x = np.array([1.0, 1 + 2**-8, 1 + 3 * 2**-8, -2.75, 3.0e38, np.inf, np.nan], np.float32)
    bits = f32_to_bf16(x)
    back = bf16_to_f32(bits)
    np.testing.assert_array_equal(back[:4], np.array([1.0, 1.0, 1 + 2**-6, -2.75], np.float32))
    assert np.isinf(back[5]) and np.isnan(back[6])
    assert abs(back[4] - 3.0e38) / 3.0e38 < 2**-8
    path = str(tmp_path / "b.safetensors")
    save_file({"w": x}, path, dtypes={"w": "BF16"})
    st = SafetensorsFile(path)
    assert st.dtype("w") == "BF16" and st.nbytes("w") == 2 * x.size
    got = st["w"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got[:6], back[:6])


def test_sharded_folder_with_index(tmp_path):
    rng = np.random.default_rng(1)
    tensors = {f"layer.{i}.weight": rng.standard_normal((8, 8)).astype(np.float32) for i in range(5)}
    specs = [(n, "BF16", a.shape) for n, a in tensors.items()]
    seen = []
    files = write_sharded(str(tmp_path), specs, lambda n, d, s: tensors[n], max_shard_bytes=300,
                          progress=lambda n, b: seen.append((n, b)))
    assert files[-1] == INDEX_NAME and len(files) == 4  # 128 bytes a tensor, two fit in 300 bytes
    index = json.load(open(tmp_path / INDEX_NAME))
    assert index["metadata"]["total_size"] == 5 * 128
    assert seen == [(n, 128) for n in tensors]
    ckpt = SafetensorsCheckpoint(str(tmp_path))
    assert list(ckpt) == list(tensors) and len(ckpt) == 5
    for name, want in tensors.items():
        assert ckpt.shape(name) == (8, 8) and ckpt.dtype(name) == "BF16"
        np.testing.assert_array_equal(ckpt[name], bf16_to_f32(f32_to_bf16(want)))
    assert set(load_file(str(tmp_path))) == set(tensors)


def test_single_file_folder_without_index(tmp_path):
    files = write_sharded(str(tmp_path), [("x", "F32", (2,))], lambda *_: np.ones(2, np.float32), 1 << 20)
    assert files == ["model.safetensors"]
    np.testing.assert_array_equal(SafetensorsCheckpoint(str(tmp_path))["x"], [1, 1])


def test_index_naming_a_missing_shard(tmp_path):
    save_file({"a": np.zeros(2, np.float32)}, str(tmp_path / "s1.safetensors"))
    json.dump({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}}, open(tmp_path / INDEX_NAME, "w"))
    with pytest.raises(SafetensorsError, match="shard files missing: s2.safetensors"):
        SafetensorsCheckpoint(str(tmp_path))


def test_index_and_shard_disagree(tmp_path):
    save_file({"a": np.zeros(2, np.float32)}, str(tmp_path / "s1.safetensors"))
    json.dump({"weight_map": {"b": "s1.safetensors"}}, open(tmp_path / INDEX_NAME, "w"))
    with pytest.raises(SafetensorsError, match="puts 'b' in s1.safetensors, which lacks it"):
        SafetensorsCheckpoint(str(tmp_path))


def test_folder_without_weights(tmp_path):
    with pytest.raises(SafetensorsError, match="neither model.safetensors.index.json nor model.safetensors"):
        SafetensorsCheckpoint(str(tmp_path))


@pytest.mark.parametrize("cut, message", [
    (4, "too short for the 8-byte header length"),
    (20, "does not fit"),
    (-4, "truncated"),
])
def test_truncated_file(tmp_path, cut, message):
    path = str(tmp_path / "t.safetensors")
    save_file({"a": np.arange(16, dtype=np.float32)}, path)
    data = open(path, "rb").read()
    open(path, "wb").write(data[:cut] if cut > 0 else data[:cut])
    with pytest.raises(SafetensorsError, match=message):
        SafetensorsFile(path)


def write_raw(path, header: bytes, data: bytes = b""):
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + data)


@pytest.mark.parametrize("header, message", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"a": {"dtype": "F32", "shape": [2]}}', "needs dtype, shape and data_offsets"),
    (b'{"a": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 8]}}', "unsupported dtype 'Q4'"),
    (b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}', "4 bytes stored but F32"),
    (b'{"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}', "bad shape"),
    (b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},'
     b' "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}', "overlaps"),
])
def test_corrupt_header(tmp_path, header, message):
    path = str(tmp_path / "c.safetensors")
    write_raw(path, header, bytes(16))
    with pytest.raises(SafetensorsError, match=message):
        SafetensorsFile(path)


def test_missing_file_and_missing_tensor(tmp_path):
    with pytest.raises(SafetensorsError, match="cannot open"):
        SafetensorsFile(str(tmp_path / "nope.safetensors"))
    path = str(tmp_path / "a.safetensors")
    save_file({"a": np.zeros(1, np.float32)}, path)
    with pytest.raises(KeyError, match="no tensor 'b'"):
        SafetensorsFile(path)["b"]


def test_writer_checks_order_and_completeness(tmp_path):
    path = str(tmp_path / "w.safetensors")
    w = SafetensorsWriter(path, [("a", "F32", (2,)), ("b", "F32", (3,))])
    with pytest.raises(ValueError, match="expected tensor 'a'"):
        w.write("b", np.zeros(3, np.float32))
    w.write("a", np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="closed after 1 of 2 tensors"):
        w.close()
    assert not os.path.exists(path) and not os.path.exists(path + ".partial")
