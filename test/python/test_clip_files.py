"""unitok/export/clip_files.py: which CLIP text tokenizer an export declares, the file it ships, the logit scale."""
import json
import math
import os

import pytest
import torch

from unitok.clip_tokenizer import MERGES_SHA256, ClipTokenizer
from unitok.config import get_tokenizer_config
from unitok.demo import world
from unitok.export.clip_files import CLIP_BPE_FILE, WORDS_FILE, words_vocabulary, write_clip_files


class _Model:  # the two things write_clip_files reads
    def __init__(self, config: str, logit_scale: float):
        self.cfg = get_tokenizer_config(config)
        self.logit_scale = torch.nn.Parameter(torch.tensor(logit_scale))


def test_bpe_vocabulary_gets_the_merges_file(tmp_path):
    section = write_clip_files(_Model("small-clip", math.log(1 / 0.07)), str(tmp_path))
    assert section["text_tokenizer"] == {"type": "clip-bpe", "file": CLIP_BPE_FILE, "sha256": MERGES_SHA256}
    assert section["logit_scale"] == pytest.approx(1 / 0.07, rel=1e-6)
    assert section["zero_shot_template"] == "a photo of a {}."
    # The shipped file is a working merges file.
    assert ClipTokenizer(str(tmp_path / CLIP_BPE_FILE)).encode("a photo of a cat.") == [320, 1125, 539, 320, 2368, 269]


def test_logit_scale_is_clamped_as_training_applies_it(tmp_path):
    assert write_clip_files(_Model("small-clip", 7.0), str(tmp_path))["logit_scale"] == pytest.approx(100.0)
    assert write_clip_files(_Model("small-clip", -1.0), str(tmp_path))["logit_scale"] == pytest.approx(1.0)


def test_unknown_vocabulary_declares_none_and_says_why(tmp_path):
    section = write_clip_files(_Model("small", 0.0), str(tmp_path))
    assert section["text_tokenizer"] is None
    assert "1000 ids" in section["text_tokenizer_note"]
    assert os.listdir(tmp_path) == []


def test_word_vocabulary_is_written_and_checked(tmp_path):
    vocab = {"a": 2, "red": 3, "circle": 4}  # a closed word list (ids 0 pad, 1 unknown, 5 sot, 6 eot)
    words = words_vocabulary(vocab, 0, 1, 5, 6, "a {}")
    section = write_clip_files(_Model("small", 0.0), str(tmp_path), words)
    assert section["text_tokenizer"] == {"type": "words", "file": WORDS_FILE}
    assert section["zero_shot_template"] == "a {}"
    with open(tmp_path / WORDS_FILE) as f:
        assert json.load(f)["words"]["red"] == 3
    too_big = words_vocabulary({**vocab, "extra": 5000}, 0, 1, 5, 6, "a {}")
    with pytest.raises(ValueError, match="does not fit the text tower"):
        write_clip_files(_Model("small", 0.0), str(tmp_path), too_big)


def test_the_committed_demo_bundle_declares_clip_bpe_and_its_zero_shot_template():
    root = os.path.join(os.path.dirname(__file__), "..", "..", "models", "demo")
    with open(os.path.join(root, "unitok_config.json")) as f:
        clip = json.load(f)["clip"]
    assert clip["text_tokenizer"] == {"type": "clip-bpe", "file": CLIP_BPE_FILE, "sha256": MERGES_SHA256}
    assert os.path.isfile(os.path.join(root, CLIP_BPE_FILE))
    assert clip["zero_shot_template"] == world.ZEROSHOT_TEMPLATES["shape"]
