"""The CLIP side of a tokenizer export beyond its graphs: which text tokenizer the text tower reads, its file, the
logit scale and the default zero-shot template. They go into unitok_config.json under "clip" (docs/bundle.md):

  "clip": {"logit_scale": 100.0,                # exp(logit_scale clamped to [0, ln 100]), as training applies it
           "zero_shot_template": "a photo of a {}.",
           "text_tokenizer": {"type": "clip-bpe", "file": "bpe_simple_vocab_16e6.txt.gz", "sha256": ...}
                           | {"type": "words", "file": "clip_words.json"}
                           | null}            # no known tokenizer for this vocabulary: text cannot be embedded

A text tower with open_clip's 49,408-id vocabulary gets the CLIP BPE merges file (assets/clip, MIT); a caller
with its own closed vocabulary (the demo's word list) passes it as `words`; any other vocabulary gets null and a
note saying why.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil

from ..clip_tokenizer import DEFAULT_MERGES, MERGES_SHA256, VOCAB_SIZE

CLIP_BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"
WORDS_FILE = "clip_words.json"
WORDS_FORMAT = "unitok-clip-words"
# The release's zero-shot evaluation averages OpenAI's ImageNet templates; one template is the server's default.
DEFAULT_TEMPLATE = "a photo of a {}."


def words_vocabulary(words: dict[str, int], pad: int, unk: int, sot: int, eot: int, template: str) -> dict:
    """clip_words.json for a closed word-level vocabulary (word -> id)."""
    return {"format": WORDS_FORMAT, "pad": pad, "unk": unk, "sot": sot, "eot": eot,
            "normalize": "lower-case; every character that is not a letter or digit is a space; split on spaces",
            "words": dict(words), "zero_shot_template": template}


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_clip_files(model, out_dir: str, words: dict | None = None) -> dict:
    """Write the text tokenizer file (if any) into out_dir; returns the manifest's "clip" section."""
    cfg = model.cfg
    scale = float(model.logit_scale.detach().clamp(0, math.log(100)).exp())
    section = {"logit_scale": scale, "zero_shot_template": DEFAULT_TEMPLATE, "text_tokenizer": None}
    if words is not None:
        ids = [words["pad"], words["unk"], words["sot"], words["eot"], *words["words"].values()]
        if words.get("format") != WORDS_FORMAT or max(ids) >= cfg.text_vocab_size or words["eot"] != max(ids):
            raise ValueError(f"the word vocabulary does not fit the text tower ({cfg.text_vocab_size} ids, "
                             "end of text the highest id)")
        with open(os.path.join(out_dir, WORDS_FILE), "w") as f:
            json.dump(words, f, indent=1)
        section.update(text_tokenizer={"type": "words", "file": WORDS_FILE},
                       zero_shot_template=words["zero_shot_template"])
    elif cfg.text_vocab_size == VOCAB_SIZE:
        if _sha256(DEFAULT_MERGES) != MERGES_SHA256:
            raise ValueError(f"{DEFAULT_MERGES} is not open_clip's merges file (sha256 differs)")
        shutil.copyfile(DEFAULT_MERGES, os.path.join(out_dir, CLIP_BPE_FILE))
        section["text_tokenizer"] = {"type": "clip-bpe", "file": CLIP_BPE_FILE, "sha256": MERGES_SHA256}
    else:
        section["text_tokenizer_note"] = (f"the text tower reads {cfg.text_vocab_size} ids, not CLIP BPE's {VOCAB_SIZE}, "
                                          "and no vocabulary was given for it: text cannot be embedded")
    return section
