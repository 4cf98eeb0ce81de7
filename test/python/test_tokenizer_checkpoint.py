"""Released unitok_tokenizer.pth layout: load, round trip, mismatch reports, and all-or-nothing export."""
import os
import subprocess
import sys

import pytest
import torch

from unitok.config import get_tokenizer_config
from unitok.export.tokenizer_onnx import (CheckpointMismatchError, load_released_tokenizer,
                                          save_released_tokenizer)
from unitok.modules.unitok import UniTok, init_random

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "unitok", *args], cwd=ROOT, capture_output=True, text=True)


@pytest.fixture()
def small_ckpt(tmp_path):
    model = init_random(UniTok(get_tokenizer_config("small")), seed=3)
    path = tmp_path / "unitok_tokenizer.pth"
    save_released_tokenizer(model, str(path))
    return model, path


def test_round_trip(small_ckpt):
    model, path = small_ckpt
    ckpt = torch.load(path)
    assert set(ckpt) == {"args", "trainer"} and set(ckpt["trainer"]) == {"unitok"}
    assert ckpt["args"]["num_codebooks"] == 4 and ckpt["args"]["vocab_size"] == 4 * 64
    loaded, cfg = load_released_tokenizer(str(path), "small")
    assert cfg == model.cfg
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k


def test_released_extras_load(tmp_path, small_ckpt):
    """DDP 'module.' prefixes and args pickled as a training-repo class are accepted."""
    model, _ = small_ckpt
    fake_module = type(sys)("utils_config_stub")

    class Args:  # stands in for utils.config.Args, which is not importable here
        pass

    Args.__module__, Args.__qualname__ = "utils_config_stub", "Args"
    fake_module.Args = Args
    sys.modules["utils_config_stub"] = fake_module
    try:
        args = Args()
        args.__dict__.update({"img_size": 32, "num_codebooks": 4, "vocab_size": 256, "vocab_width": 16})
        sd = {f"module.{k}": v for k, v in model.state_dict().items()}
        path = tmp_path / "ddp.pth"
        torch.save({"args": args, "trainer": {"unitok": sd}}, path)
    finally:
        del sys.modules["utils_config_stub"]
    loaded, cfg = load_released_tokenizer(str(path), "small")
    assert cfg.num_codebooks == 4
    assert torch.equal(loaded.quantizer.codebooks[0].codebook.weight, model.quantizer.codebooks[0].codebook.weight)


def test_mismatch_lists_every_problem(tmp_path, small_ckpt):
    model, _ = small_ckpt
    sd = dict(model.state_dict())
    del sd["decoder.norm.weight"]
    sd["decoder.extra.weight"] = torch.zeros(3)
    sd["quantizer.codebooks.0.codebook.weight"] = torch.zeros(65, 4)
    path = tmp_path / "bad.pth"
    torch.save({"args": {}, "trainer": {"unitok": sd}}, path)
    with pytest.raises(CheckpointMismatchError) as err:
        load_released_tokenizer(str(path), "small")
    assert sorted(p.split(":")[0] for p in err.value.problems) == ["missing", "shape mismatch", "unexpected"]
    text = str(err.value)
    assert "decoder.norm.weight" in text and "decoder.extra.weight" in text and "(65, 4)" in text


def test_wrong_layout_and_missing_file(tmp_path):
    path = tmp_path / "plain.pth"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(ValueError, match="released layout"):
        load_released_tokenizer(str(path))
    with pytest.raises(FileNotFoundError):
        load_released_tokenizer(str(tmp_path / "nope.pth"))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read"):
        load_released_tokenizer(str(garbage))


def test_cli_exports_checkpoint_and_writes_nothing_on_failure(tmp_path, small_ckpt):
    model, path = small_ckpt
    out = tmp_path / "export"
    r = run_cli("export-tokenizer", "--checkpoint", str(path), "--config", "small", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(out)) == ["unitok_clip_image.onnx", "unitok_clip_text.onnx", "unitok_config.json",
                                       "unitok_decode.onnx", "unitok_encode.onnx"]
    # Without --config the released args name vitamin_large, whose shapes do not fit: a list, nothing written.
    bad_out = tmp_path / "bad"
    r = run_cli("export-tokenizer", "--checkpoint", str(path), "--out", str(bad_out))
    assert r.returncode == 1
    assert "mis-shaped" in r.stderr and "pass --config" in r.stderr
    assert not bad_out.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".bad.partial")]
    # An existing, non-empty output folder is never overwritten.
    r = run_cli("export-tokenizer", "--random", "--config", "small", "--out", str(out))
    assert r.returncode != 0 and "not empty" in r.stderr


def test_failure_mid_export_leaves_nothing(tmp_path, monkeypatch):
    from unitok.export import tokenizer_onnx
    from unitok.export.onnx_io import atomic_output_dir

    model = init_random(UniTok(get_tokenizer_config("small")), seed=1)
    calls = []

    def failing_save(proto, p):
        calls.append(p)
        if len(calls) == 2:
            raise OSError("disk full")
        return tokenizer_onnx.onnx.save(proto, p) or 0

    monkeypatch.setattr(tokenizer_onnx, "save_onnx", failing_save)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="disk full"):
        with atomic_output_dir(str(out)) as tmp:
            tokenizer_onnx.export_tokenizer_graphs(model, tmp, log=lambda s: None)
    assert len(calls) == 2
    assert os.listdir(tmp_path) == []
