"""The committed default model models/demo: complete, within its size budget, at the demo presets, with its model
card; and the held-out sample the TypeScript meaning test (test/demo-model.test.ts) reads is what the world
generator makes today. The model's behaviour itself is checked through its ONNX graphs by that TypeScript test."""
import json
import os

import pytest

from unitok.config import get_tokenizer_config
from unitok.demo import world
from unitok.mllm_config import get_mllm_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUNDLE = os.path.join(ROOT, "models", "demo")
SAMPLE = os.path.join(ROOT, "test", "data", "demo")


def test_bundle_is_complete_and_small():
    with open(os.path.join(BUNDLE, "config.json")) as f:
        config = json.load(f)
    for name, size in config["files"].items():
        assert os.path.getsize(os.path.join(BUNDLE, name)) == size, name
    total = sum(os.path.getsize(os.path.join(BUNDLE, f)) for f in os.listdir(BUNDLE))
    assert total <= 40 * 10**6, f"{total / 1e6:.1f} MB"
    assert config["source"]["mllm_config"] == "demo" and config["source"]["tokenizer_config"] == "demo"
    mllm, tok = get_mllm_config("demo"), get_tokenizer_config("demo")
    assert config["llm"]["hidden_size"] == mllm.hidden_size and config["llm"]["vocab_size"] == 32000
    assert config["image"] == {**config["image"], "size": tok.img_size, "grid": tok.grid,
                               "num_codebooks": tok.num_codebooks, "codebook_size": tok.codebook_size}


def test_model_card_reports_the_held_out_measurements():
    with open(os.path.join(BUNDLE, "MODEL_CARD.md")) as f:
        card = f.read()
    for needle in ("reconstruction PSNR", "VQA exact match", "text -> image oracle", "Held-out language split", "Replies to what a new user types first", "zero-shot", "## Limits"):
        assert needle in card, needle
    assert "not measured" not in card


def test_sample_matches_the_world_generator(tmp_path):
    from unitok.demo.world import main

    with open(os.path.join(SAMPLE, "heldout.json")) as f:
        committed = json.load(f)
    n, t, c = len(committed["scenes"]), len(committed["t2i"]), len(committed["chat"])
    assert main(["--out", str(tmp_path), "--count", str(n), "--t2i", str(t), "--chat", str(c), "--no-sheet"]) == 0
    with open(tmp_path / "heldout.json") as f:
        assert json.load(f) == committed, "test/data/demo is stale: rerun the make-world command in its test"
    for scene in committed["scenes"]:
        with open(os.path.join(SAMPLE, scene["file"]), "rb") as a, open(tmp_path / scene["file"], "rb") as b:
            assert a.read() == b.read(), scene["file"]
    assert committed["clip"]["shape"]["labels"] == list(world.SHAPES)


@pytest.mark.parametrize("kind", ["color", "shape"])
def test_sample_has_core_questions(kind):
    with open(os.path.join(SAMPLE, "heldout.json")) as f:
        scenes = json.load(f)["scenes"]
    assert sum(q["kind"] == kind for s in scenes for q in s["qa"]) >= 16


def test_model_card_rebuild_commands_follow_the_run_metrics():
    """The card's rebuild commands give the later stages with the flags their metrics recorded, in run order."""
    from unitok.demo.bundle import _finetune_commands, _mllm_flags, _tokenizer_command

    assert _tokenizer_command({"train_minutes": 28.0, "edge_weight": 16.0}).endswith("--minutes 28 --edge-weight 16")
    assert _tokenizer_command({"train_minutes": 28.0, "edge_weight": 16.0, "locality_weight": 1.0}).endswith(
        "--edge-weight 16 --locality-weight 1")
    assert _tokenizer_command({"train_minutes": 28.0, "locality_weight": 1.0, "pair_weight": 2.0}).endswith(
        "--locality-weight 1 --pair-weight 2")
    assert _finetune_commands({}) == ""
    tok = {"decoder_finetune": {"steps": 900, "batch": 16, "lr": 5e-4, "train_minutes": 12.4, "edge_weight": 16.0},
           "clip_finetune": {"steps": 800, "batch": 64, "lr": 5e-4, "train_minutes": 2.1}}
    lines = _finetune_commands(tok).splitlines()
    assert lines == ["python3 -m unitok train-tokenizer --out runs/demo --decoder-only --batch 16 --lr 0.0005 "
                     "--minutes 12 --edge-weight 16",
                     "python3 -m unitok train-tokenizer --out runs/demo --clip-only --steps 800 --batch 64 --lr 0.0005 "
                     "--minutes 3"]
    tok["decoder_finetune"]["readout_weight"] = 4.0
    assert _finetune_commands(tok).splitlines()[0].endswith("--edge-weight 16 --readout-weight 4")
    tok["decoder_finetune"]["rounds"] = [{"minutes": 22, "steps": 3000}, {"minutes": 44, "steps": 10000}]
    lines = _finetune_commands(tok).splitlines()
    assert len(lines) == 3 and "--minutes 22 --steps 3000 --edge-weight" in lines[0]
    assert "--minutes 44 --steps 10000 --edge-weight" in lines[1] and "--clip-only" in lines[2]
    tok["decoder_finetune"]["rounds"][1]["code_noise"] = 0.1
    assert _finetune_commands(tok).splitlines()[1].endswith("--readout-weight 4 --code-noise 0.1")
    assert "--code-noise" not in _finetune_commands(tok).splitlines()[0]
    assert _mllm_flags({"mix_last": {"t2i_centred": False, "decision_weight": 1.0}}) == ""
    assert _mllm_flags({"mix_last": {"t2i_centred": True, "decision_weight": 2.0}, "init_from": "runs/imported/mllm"}) \
        == " --t2i-centred 1 --decision-weight 2 --init-from runs/imported/mllm"
    legacy = _finetune_commands({"clip_finetune": {"steps": 800, "batch": 64, "train_minutes": 2.1}}).splitlines()
    assert len(legacy) == 2 and all("--clip-only" in line for line in legacy)
