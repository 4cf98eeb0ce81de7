"""The converter: a random released-layout checkpoint converts into a complete bundle; every kind of mismatch is
listed before anything is written; failures and interrupts leave no output behind."""
import json
import os
import re
import shutil

import numpy as np
import pytest

from unitok.config import get_tokenizer_config
from unitok.convert import convert as convert_mod
from unitok.convert.bundle_config import FORMAT, vqa_prompt
from unitok.convert.convert import ConversionError, convert
from unitok.convert.mllm_checkpoint import mllm_specs, read_mllm_config
from unitok.convert.random_checkpoint import make_random_checkpoint, random_tensor
from unitok.convert.tokenizer_files import (SPM_FILE, read_sentencepiece_pieces, tokenizer_json_vocab,
                                            write_sentencepiece_model)
from unitok.mllm_config import get_mllm_config
from unitok.safetensors import INDEX_NAME, SafetensorsCheckpoint, load_file, save_file

TINY = dict(mllm_config="tiny", tokenizer_config="small")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A random tiny checkpoint, sharded (2 MB shards) like a transformers save, with a tokenizer.model."""
    out = str(tmp_path_factory.mktemp("ckpt") / "random")
    make_random_checkpoint(out, "tiny", "small", seed=3, max_shard_bytes=2 * 10**6)
    return out


def copy_checkpoint(src: str, dst) -> tuple[str, str]:
    shutil.copytree(src, str(dst))
    return os.path.join(dst, "unitok_tokenizer.pth"), os.path.join(dst, "mllm")


def edit_shards(mllm: str, drop=(), add=None, replace=None) -> None:
    """Rewrite the shards of a checkpoint folder: drop keys, add keys (to the first shard), replace values."""
    index_path = os.path.join(mllm, INDEX_NAME)
    index = json.load(open(index_path))
    shards = sorted(set(index["weight_map"].values()))
    for n, shard in enumerate(shards):
        path = os.path.join(mllm, shard)
        tensors = {k: v for k, v in load_file(path).items() if k not in drop}
        tensors.update({k: v for k, v in (replace or {}).items() if k in tensors})
        if n == 0:
            tensors.update(add or {})
        save_file(tensors, path, dtypes={k: "BF16" for k in tensors})
        for k in tensors:
            index["weight_map"][k] = shard
    for k in drop:
        index["weight_map"].pop(k)
    json.dump(index, open(index_path, "w"))


def run_convert(tok, mllm, out, **kw):
    return convert(tok, mllm, str(out), kw.pop("dtype", "fp32"), tokenizer_config="small", mllm_config="tiny", **kw)


def assert_nothing_written(parent, out):
    assert not os.path.exists(out)
    assert not [n for n in os.listdir(parent) if ".partial-" in n], "a temp folder was left behind"


def test_random_checkpoint_layout(checkpoint):
    mllm = os.path.join(checkpoint, "mllm")
    files = sorted(os.listdir(mllm))
    assert INDEX_NAME in files and SPM_FILE in files and "config.json" in files
    assert sum(f.endswith(".safetensors") for f in files) > 1
    cfg = read_mllm_config(mllm, "tiny")
    assert cfg.hidden_size == get_mllm_config("tiny").hidden_size
    ckpt = SafetensorsCheckpoint(mllm)
    specs = mllm_specs(cfg)
    assert list(ckpt) == list(specs)  # state-dict order, as transformers writes it
    assert {ckpt.dtype(k) for k in ckpt} == {"BF16"}
    key = "model.layers.1.mlp.down_proj.weight"
    np.testing.assert_allclose(ckpt[key], random_tensor(4, key, specs[key][0], True), rtol=2**-8)
    assert not ckpt["model.multi_embedder.attn_projection.attn.zero_k_bias"].any()


def test_meta_specs_match_a_real_module():
    from unitok.modules.mllm import UniTokMLLM

    cfg = get_mllm_config("tiny")
    real = {k: tuple(v.shape) for k, v in UniTokMLLM(cfg).state_dict().items()}
    assert {k: s for k, (s, _) in mllm_specs(cfg).items()} == real


def test_random_tensor_is_reproducible_and_order_free():
    a = random_tensor(0, "x.weight", (4, 8), True)
    assert np.array_equal(a, random_tensor(0, "x.weight", (4, 8), True))
    assert not np.array_equal(a, random_tensor(1, "x.weight", (4, 8), True))
    assert not np.array_equal(a, random_tensor(0, "y.weight", (4, 8), True))
    assert abs(a.std() * 8**0.5 - 1) < 0.3  # n / sqrt(fan_in)
    assert np.allclose(random_tensor(0, "norm.weight", (1000,), True).mean(), 1, atol=0.02)


def test_embedder_codebooks_are_the_tokenizers(checkpoint):
    import torch

    tok = torch.load(os.path.join(checkpoint, "unitok_tokenizer.pth"))["trainer"]["unitok"]
    ckpt = SafetensorsCheckpoint(os.path.join(checkpoint, "mllm"))
    for i in range(get_tokenizer_config("small").num_codebooks):
        np.testing.assert_allclose(ckpt[f"model.multi_embedder.quantizer.codebooks.{i}.codebook.weight"],
                                   tok[f"quantizer.codebooks.{i}.codebook.weight"].numpy(), rtol=2**-8)


def test_converts_into_a_complete_bundle(checkpoint, tmp_path):
    out = tmp_path / "bundle"
    config = run_convert(os.path.join(checkpoint, "unitok_tokenizer.pth"), os.path.join(checkpoint, "mllm"), out)
    files = set(os.listdir(out))
    assert config == json.load(open(out / "config.json"))
    assert config["format"] == FORMAT and config["dtype"] == "fp32"
    for name in config["graphs"].values():
        assert name in files, name
    assert set(config["files"]) == files - {"config.json"}
    assert all(os.path.getsize(out / f) == n for f, n in config["files"].items())
    assert config["special_tokens"] == {"pad": 0, "unk": 0, "bos": 1, "eos": 2, "boi": 3, "eoi": 4}
    assert config["image"]["visual_tokens"] == get_tokenizer_config("small").num_tokens
    assert config["sampling"]["image"] == {"cfg_scale": 7.0, "temperature": 1.0, "top_k": 0, "top_p": 1.0}
    assert config["prompts"]["text_to_image"]["append_ids"] == [3]
    assert "assets/llama2" in config["tokenizer"]["note"]
    assert tokenizer_json_vocab(str(out / "tokenizer.json"))[:5] == ["<unk>", "<s>", "</s>", "<0x00>", "<0x01>"]
    assert vqa_prompt("Hi?") == ("A chat between a curious user and an artificial intelligence assistant. The assistant "
                                 "gives helpful, detailed, and polite answers to the user's questions. USER: <image>\n"
                                 "Hi? ASSISTANT:")
    assert not [n for n in os.listdir(tmp_path) if ".partial-" in n]


def test_key_problems_are_all_listed_and_nothing_is_written(checkpoint, tmp_path):
    tok, mllm = copy_checkpoint(checkpoint, tmp_path / "ckpt")
    edit_shards(mllm, drop=["model.layers.0.mlp.up_proj.weight", "ar_head.norm.weight"],
                add={"model.layers.9.mlp.up_proj.weight": np.zeros((2, 2), np.float32)},
                replace={"lm_head.weight": np.zeros((32000, 32), np.float32)})
    out = tmp_path / "bundle"
    with pytest.raises(ConversionError) as e:
        run_convert(tok, mllm, out)
    msg = str(e.value)
    assert "4 problem(s); nothing was written" in msg
    assert "mllm missing: model.layers.0.mlp.up_proj.weight (128, 64)" in msg
    assert "mllm missing: ar_head.norm.weight (64,)" in msg
    assert "mllm unexpected: model.layers.9.mlp.up_proj.weight (2, 2)" in msg
    assert "mllm shape mismatch: lm_head.weight checkpoint (32000, 32) vs model (32000, 64)" in msg
    assert "--mllm-config preset 'tiny'" in msg  # ar_head problems point at the preset
    assert_nothing_written(tmp_path, out)


def test_tokenizer_problems_and_layout_mismatch_are_listed(checkpoint, tmp_path):
    out = tmp_path / "bundle"
    tok, mllm = os.path.join(checkpoint, "unitok_tokenizer.pth"), os.path.join(checkpoint, "mllm")
    with pytest.raises(ConversionError) as e:
        convert(tok, mllm, str(out), "fp32", tokenizer_config="demo", mllm_config="tiny")
    assert re.search(r"\n  tokenizer (missing|unexpected|shape mismatch): encoder\.", str(e.value))
    with pytest.raises(ConversionError) as e:  # 7b visual sizes, tiny language model (from config.json)
        convert(tok, mllm, str(out), "fp32", tokenizer_config="small", mllm_config="7b")
    msg = str(e.value)
    assert "mllm shape mismatch: ar_head.linear_head.weight checkpoint (64, 64) vs model (4096, 64)" in msg
    assert "model.layers." not in msg
    assert "code layout: MLLM (8, 4096, 8) vs tokenizer (4, 64, 4)" in msg
    assert msg.endswith("pick the preset the checkpoint was made with)")
    with pytest.raises(ConversionError, match="tokenizer: tokenizer checkpoint not found"):
        run_convert(str(tmp_path / "nope.pth"), mllm, out)
    assert_nothing_written(tmp_path, out)


def test_code_layout_mismatch(checkpoint, tmp_path, monkeypatch):
    import dataclasses

    from unitok.convert import mllm_checkpoint

    real = mllm_checkpoint.read_mllm_config
    monkeypatch.setattr(convert_mod, "read_mllm_config",
                        lambda *a: dataclasses.replace(real(*a), codebook_size=32))
    with pytest.raises(ConversionError, match=r"code layout: MLLM \(4, 32, 4\) vs tokenizer \(4, 64, 4\)"):
        run_convert(os.path.join(checkpoint, "unitok_tokenizer.pth"), os.path.join(checkpoint, "mllm"),
                    tmp_path / "bundle")


def test_text_tokenizer_files_are_checked(checkpoint, tmp_path):
    tok, mllm = copy_checkpoint(checkpoint, tmp_path / "ckpt")
    spm = os.path.join(mllm, SPM_FILE)
    pieces = read_sentencepiece_pieces(spm)
    pieces[1000] = ("▁different", pieces[1000][1], pieces[1000][2])
    write_sentencepiece_model(spm, pieces)
    with pytest.raises(ConversionError, match=r"differs from the project's Llama-2 tokenizer .*id 1000: '▁different'"):
        run_convert(tok, mllm, tmp_path / "bundle")
    write_sentencepiece_model(spm, pieces[:-1])
    with pytest.raises(ConversionError, match="has 31999 tokens but the model's vocab_size is 32000"):
        run_convert(tok, mllm, tmp_path / "bundle")
    open(spm, "wb").write(b"\xff\xff\xff")
    with pytest.raises(ConversionError, match="not a sentencepiece model"):
        run_convert(tok, mllm, tmp_path / "bundle")
    assert_nothing_written(tmp_path, tmp_path / "bundle")


def test_tokenizer_json_in_the_folder_is_used(checkpoint, tmp_path):
    tok, mllm = copy_checkpoint(checkpoint, tmp_path / "ckpt")
    os.remove(os.path.join(mllm, SPM_FILE))
    from unitok.convert.tokenizer_files import write_tokenizer_files

    write_tokenizer_files(mllm, "json")
    config = run_convert(tok, mllm, tmp_path / "bundle")
    assert config["tokenizer"]["note"] == "Llama-2 tokenizer from the MLLM folder"


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_failure_during_writing_leaves_nothing(checkpoint, tmp_path, monkeypatch, error):
    real = convert_mod.build_mllm_graphs

    def fail_midway(weights, cfg, dtype, out_dir, **kw):
        real(weights, cfg, dtype, out_dir, graphs=("embed_tokens",), **kw)
        raise error("stop")

    monkeypatch.setattr(convert_mod, "build_mllm_graphs", fail_midway)
    out = tmp_path / "bundle"
    with pytest.raises(error):
        run_convert(os.path.join(checkpoint, "unitok_tokenizer.pth"), os.path.join(checkpoint, "mllm"), out)
    assert_nothing_written(tmp_path, out)


def test_refuses_a_non_empty_output(checkpoint, tmp_path):
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ConversionError, match="exists and is not empty"):
        run_convert(os.path.join(checkpoint, "unitok_tokenizer.pth"), os.path.join(checkpoint, "mllm"), out)
    assert os.listdir(out) == ["keep.txt"]


def test_command_line_reports_errors(checkpoint, tmp_path, capsys):
    rc = convert_mod.main(["--tokenizer", os.path.join(checkpoint, "unitok_tokenizer.pth"), "--mllm",
                           str(tmp_path / "missing"), "--out", str(tmp_path / "b"), "--dtype", "int4"])
    assert rc == 1
    assert "config.json not found" in capsys.readouterr().err


def test_committed_tiny_bundle_matches_a_fresh_build():
    from unitok.convert.tiny_bundle import DEFAULT_OUT, MAX_BYTES, stale_files

    assert stale_files(DEFAULT_OUT) == [], "models/tiny is stale: run `python3 -m unitok build-tiny-bundle`"
    assert sum(os.path.getsize(os.path.join(DEFAULT_OUT, n)) for n in os.listdir(DEFAULT_OUT)) <= MAX_BYTES
