"""import-bundle: a bundle read back into checkpoints converts to the same bundle again (the committed random
models/tiny and the trained models/demo, whose lm_head is int8), and a bundle it cannot read fully writes
nothing."""
import json
import os
import shutil

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from unitok.convert.convert import convert
from unitok.convert.import_bundle import import_bundle, main
from unitok.convert.mllm_checkpoint import load_mllm_torch
from unitok.export.tokenizer_onnx import load_released_tokenizer

TINY, DEMO = "models/tiny", "models/demo"
# Normalised codebook tables: the import stores each row as its codebook's weight, which the export normalises
# again (within an ulp of float32, or of float16 in the MLLM's table).
RENORMALISED = {"lookup.table": 2e-7, "table_t": 2e-7, "model.multi_embedder.quantizer.normalized_table": 5e-4}


def initializers(folder: str, file: str) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in onnx.load(os.path.join(folder, file)).graph.initializer}


def reconvert(run: str, bundle: str, out: str) -> None:
    with open(os.path.join(bundle, "config.json")) as f:
        source = json.load(f)["source"]
    with open(os.path.join(bundle, "mllm_graphs.json")) as f:
        int4 = json.load(f)["int4"]
    convert(os.path.join(run, "unitok_tokenizer.pth"), os.path.join(run, "mllm"), out, "int4",
            source["tokenizer_config"], source["mllm_config"], int4["accuracy_level"],
            int4_block_size=int4["block_size"], lm_head_bits=int4["lm_head_bits"])


@pytest.fixture(scope="module", params=[TINY, DEMO])
def imported(request, tmp_path_factory):
    run = str(tmp_path_factory.mktemp("imp") / "run")
    import_bundle(request.param, run)
    return request.param, run


def test_the_imported_checkpoints_convert_to_the_same_bundle(imported, tmp_path):
    bundle, run = imported
    reconvert(run, bundle, str(tmp_path / "again"))
    files = sorted(f for f in os.listdir(bundle) if f.endswith(".onnx"))
    assert len(files) == 10
    for file in files:
        a, b = initializers(bundle, file), initializers(str(tmp_path / "again"), file)
        assert a.keys() == b.keys(), file
        for name in a:
            if name in RENORMALISED:
                assert np.abs(a[name].astype(np.float64) - b[name]).max() <= RENORMALISED[name], (file, name)
            else:
                assert np.array_equal(a[name], b[name]), (file, name)


def test_the_imported_checkpoints_load_where_training_reads_them(imported):
    bundle, run = imported
    with open(os.path.join(bundle, "config.json")) as f:
        source = json.load(f)["source"]
    tok, cfg = load_released_tokenizer(os.path.join(run, "unitok_tokenizer.pth"), source["tokenizer_config"])
    assert torch.isfinite(tok.logit_scale).all()
    mllm = load_mllm_torch(os.path.join(run, "mllm"), source["mllm_config"])
    same = [torch.equal(ours.codebook.weight, theirs.codebook.weight)
            for ours, theirs in zip(mllm.model.multi_embedder.quantizer.codebooks, tok.quantizer.codebooks)]
    # A trained demo's MLLM holds a frozen copy of the tokenizer's codebooks, which come back in float32 rather
    # than as its own table's float16 rounding; the random tiny checkpoint's MLLM was saved in bfloat16.
    assert all(same) if bundle == DEMO else not any(same)
    assert json.load(open(os.path.join(run, "IMPORTED.json")))["dtype"] == "int4"


def test_a_bundle_missing_a_weight_writes_nothing(tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(TINY, broken)
    model = onnx.load(str(broken / "llm.onnx"))
    victim = next(i for i in model.graph.initializer if i.name.endswith(".scales"))
    model.graph.initializer.remove(victim)
    onnx.save(model, str(broken / "llm.onnx"))
    out = tmp_path / "run"
    assert main(["--bundle", str(broken), "--out", str(out)]) == 1
    assert not out.exists() and not [p for p in os.listdir(tmp_path) if p.startswith(".run")]
    err = capsys.readouterr().err
    assert "error:" in err and "llm.onnx" in err


def test_train_mllm_starts_from_the_imported_weights(imported, tmp_path):
    bundle, run = imported
    if bundle != DEMO:
        pytest.skip("train-mllm trains the demo configuration")
    from unitok.demo import train_mllm

    out = tmp_path / "finetune"
    out.mkdir()
    shutil.copy(os.path.join(run, "unitok_tokenizer.pth"), out)
    train_mllm.train(str(out), steps=0, batch=2, lr=1e-4, minutes=None, pool=16, save_every=10, threads=1,
                     init_from=os.path.join(run, "mllm"))
    start = load_mllm_torch(os.path.join(run, "mllm"), "demo").state_dict()
    saved = load_mllm_torch(str(out / "mllm"), "demo").state_dict()
    assert all(torch.equal(start[k], saved[k]) for k in start)
    assert json.load(open(out / "mllm_train.json"))["init_from"] == os.path.join(run, "mllm")
