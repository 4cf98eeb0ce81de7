"""unitok/clip_tokenizer.py against the reference ids of open_clip's tokenizer (test/data/clip/tokenize-cases.json),
a textbook BPE written here, and tokenize()'s padding/cut rules. Parity with the TypeScript twin is checked on the
TypeScript side, through the `clip_tokenizer` fixtures."""
import gzip
import json
import os

import pytest
import torch

from unitok.clip_tokenizer import (CONTEXT_LENGTH, DEFAULT_MERGES, EOT_ID, MERGES_USED, SOT_ID, ClipTokenizer,
                                   bytes_to_unicode, clean, pre_tokenize)

CASES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "clip",
                     "tokenize-cases.json")


@pytest.fixture(scope="module")
def tok():
    return ClipTokenizer()


def load_cases():
    with open(CASES, encoding="utf-8") as f:
        return json.load(f)["cases"]


@pytest.mark.parametrize("case", load_cases(), ids=lambda c: repr(c["text"][:30]))
def test_reference_cases(tok, case):
    row = tok(case["text"])[0].tolist()
    n = len(case["ids"])
    assert row[:n] == case["ids"]
    assert row[n:] == [0] * (CONTEXT_LENGTH - n)


def test_batch_shape_padding_and_cut(tok):
    out = tok(["a photo of a cat.", "x " * 200, ""], context_length=16)
    assert out.dtype == torch.long and tuple(out.shape) == (3, 16)
    assert out[0, 0] == SOT_ID and out[0].tolist().index(EOT_ID) == 1 + len(tok.encode("a photo of a cat."))
    assert out[1, -1] == EOT_ID and (out[1] != 0).all()
    assert out[2].tolist() == [SOT_ID, EOT_ID] + [0] * 14
    assert tok("one").shape == (1, CONTEXT_LENGTH)
    with pytest.raises(ValueError):
        tok("x", context_length=1)


def test_encode_has_no_special_tokens(tok):
    assert tok.encode("a photo of a cat.") == [320, 1125, 539, 320, 2368, 269]
    assert tok.encode("") == []


def test_against_textbook_bpe(tok):
    """Every pre-token's BPE equals a naive merge-the-lowest-rank-pair loop over the merges file."""
    with gzip.open(DEFAULT_MERGES) as f:
        merges = [tuple(m.split()) for m in f.read().decode("utf-8").split("\n")[1:MERGES_USED + 1]]
    ranks = {m: r for r, m in enumerate(merges)}
    enc = bytes_to_unicode()

    def naive(piece):
        syms = [enc[b] for b in piece.encode("utf-8")]
        syms[-1] += "</w>"
        while True:
            found = [(ranks[p], i) for i, p in enumerate(zip(syms, syms[1:])) if p in ranks]
            if not found:
                return [tok.encoder[s] for s in syms]
            r = min(found)[0]
            i = 0
            while i < len(syms) - 1:  # all occurrences of the pair, left to right
                if (syms[i], syms[i + 1]) == merges[r]:
                    syms[i:i + 2] = [syms[i] + syms[i + 1]]
                i += 1

    text = " ".join(c["text"] for c in load_cases()) + " unbelievably photographic mississippi aaaaaaaa"
    for piece in pre_tokenize(clean(text)):
        if piece.startswith("<") and piece.endswith(">") and piece in tok.encoder:
            continue
        token = "".join(enc[b] for b in piece.encode("utf-8"))
        assert [tok.encoder[t] for t in tok.bpe(token)] == naive(piece), piece


def test_pre_tokenizer_rules():
    assert pre_tokenize("don't stop 123 ab!!cd <start_of_text>x") == [
        "don", "'t", "stop", "1", "2", "3", "ab", "!!", "cd", "<start_of_text>", "x"]
    assert pre_tokenize("'ſ") == ["'ſ"]  # the pattern is IGNORECASE: long s folds to s


def test_clean_subset_of_ftfy():
    assert clean("  A\u0301  \tB ") == "\u00e1 b"  # NFC, whitespace collapsed, lower-cased
    assert clean("\ufb01ne") == "fine"  # ligature
    assert clean("it\u00e2\u0080\u0099s") == "it's"  # UTF-8 read as Windows-1252, then quotes uncurled
    assert clean("&amp;amp;lt;") == "<"  # ftfy's unescape, then html.unescape twice
    assert clean("\uff21\uff22") == "ab"  # fullwidth


def test_decode_round_trip(tok):
    assert tok.decode(tok.encode("a photo of a cat.")) == "a photo of a cat . "


def test_bad_merges_file(tmp_path):
    p = tmp_path / "m.txt.gz"
    with gzip.open(p, "wb") as f:
        f.write(b"#version\na b\n")
    with pytest.raises(ValueError, match="merge lines"):
        ClipTokenizer(str(p))
    with pytest.raises(ValueError, match="cannot read"):
        ClipTokenizer(str(tmp_path / "missing.gz"))


def test_html_entity_tables_of_the_typescript_twin_are_fresh():
    import subprocess
    import sys
    script = os.path.join(os.path.dirname(CASES), "..", "..", "..", "scripts", "gen-html-entities.py")
    r = subprocess.run([sys.executable, script, "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
