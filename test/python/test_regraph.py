"""`python3 -m unitok regraph`: a format-2 bundle's decoder graphs rebuilt without its checkpoint, or refused."""
import json
import os
import shutil

import onnx
import pytest

from unitok.convert.bundle_config import FORMAT_VERSION
from unitok.convert.regraph import RegraphError, regraph

TINY = os.path.join(os.path.dirname(__file__), "..", "..", "models", "tiny")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def as_format(bundle, version, edit_manifest=None):
    """A copy of models/tiny that says it is `version` (its data files are what format 2 wrote as well)."""
    shutil.copytree(TINY, bundle)
    with open(os.path.join(bundle, "config.json")) as f:
        config = json.load(f)
    config["format_version"] = version
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f)
    if edit_manifest:
        path = os.path.join(bundle, "mllm_graphs.json")
        with open(path) as f:
            manifest = json.load(f)
        edit_manifest(manifest)
        with open(path, "w") as f:
            json.dump(manifest, f)


def test_regraph_gives_what_convert_writes(tmp_path):
    bundle = str(tmp_path / "b")
    as_format(bundle, 2)
    graph = onnx.load(os.path.join(bundle, "llm.onnx"), load_external_data=False)
    graph.producer_name = "format 2"  # stands for format 2's graph: other bytes, the same weights
    onnx.save(graph, os.path.join(bundle, "llm.onnx"))
    data_before = {n: read(os.path.join(bundle, n)) for n in os.listdir(bundle) if n.endswith(".data")}
    assert "rebuilt for bundle format" in regraph(bundle, keep=str(tmp_path / "old"))
    for name in ("llm.onnx", "lm_head.onnx", "depth_head.onnx", "config.json"):  # byte for byte what convert wrote
        assert read(os.path.join(bundle, name)) == read(os.path.join(TINY, name)), name
    assert {n: read(os.path.join(bundle, n)) for n in data_before} == data_before  # weights untouched
    assert json.load(open(tmp_path / "old" / "config.json"))["format_version"] == 2
    assert not [n for n in os.listdir(bundle) if n.startswith(".regraph")]  # no scratch left behind
    assert "nothing to do" in regraph(bundle)


def test_rebuild_brings_a_current_bundle_to_this_converter(tmp_path):
    bundle = str(tmp_path / "b")
    as_format(bundle, FORMAT_VERSION)
    head = onnx.load(os.path.join(bundle, "lm_head.onnx"), load_external_data=False)
    del head.graph.node[-1]  # stands for an older lm_head of the same format: other nodes, the same weights
    onnx.save(head, os.path.join(bundle, "lm_head.onnx"))
    data_before = {n: read(os.path.join(bundle, n)) for n in os.listdir(bundle) if n.endswith(".data")}
    assert "nothing to do" in regraph(bundle)
    assert read(os.path.join(bundle, "lm_head.onnx")) != read(os.path.join(TINY, "lm_head.onnx"))
    assert "rebuilt for bundle format" in regraph(bundle, rebuild=True)
    for name in ("llm.onnx", "lm_head.onnx", "depth_head.onnx"):
        assert read(os.path.join(bundle, name)) == read(os.path.join(TINY, name)), name
    assert {n: read(os.path.join(bundle, n)) for n in data_before} == data_before


@pytest.mark.parametrize("version, edit, message", [
    (1, None, "convert the checkpoint again"),
    # weights laid out for another block size than the data files hold: refused, nothing written
    (2, lambda m: m["int4"].update(block_size=16), "would not be where the data file has them"),
])
def test_regraph_refuses_and_writes_nothing(tmp_path, version, edit, message):
    bundle = str(tmp_path / "b")
    as_format(bundle, version, edit)
    before = {n: read(os.path.join(bundle, n)) for n in os.listdir(bundle)}
    with pytest.raises(RegraphError, match=message):
        regraph(bundle)
    assert {n: read(os.path.join(bundle, n)) for n in os.listdir(bundle)} == before


def test_format_version_is_current():
    assert json.load(open(os.path.join(TINY, "config.json")))["format_version"] == FORMAT_VERSION
