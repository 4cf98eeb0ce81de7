"""Fixtures `clip_tokenizer`: the Python CLIP tokenizer's ids on seeded random strings, for the TypeScript twin.

Writes random.json: {"seed", "texts": [...], "ids": [[...], ...]} with each text's open_clip tokenize() row
(context 77) without its zero padding. The strings mix what the tokenizer's cleaning and pre-tokenizer treat
specially: Unicode letters, digits and marks of many scripts (only code points assigned in Python's Unicode
database, so both runtimes know them), emoji sequences, HTML entities (named, legacy without ';', numeric, invalid),
every whitespace character, curly quotes, ligatures, fullwidth forms, UTF-8 read as Windows-1252 (mojibake), C1 and
other control characters, terminal escapes, lone surrogates, contractions, the special-token strings, and long texts.
"""
from __future__ import annotations

import html.entities
import json
import os
import random
import sys
import unicodedata

from unitok.clip_tokenizer import CONTEXT_LENGTH, ClipTokenizer

SEED = 2502
COUNT = 3000
WORDS = ("a photo of the cat dog red green blue circle square triangle small large background top left right "
         "bottom center object image picture what colour is there don't can't it's we're they'll i'm you've "
         "hello world tench fish café naïve résumé über straße").split()
SPACES = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()] + ["\ufeff", "\u200b", "\u180e"]
ENTITY_NAMES = sorted(html.entities.html5)
SPECIAL = ["<start_of_text>", "<end_of_text>", "<START_OF_TEXT>", "<", ">", "<|endoftext|>"]
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["...", "--", "''", "'s", "'S", "'ſ", "'ll", "'LL", "'d", "'x"]
FANCY = list("\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\ufb00\ufb01\ufb02\ufb03\ufb04\ufb05\ufb06\u0132\u0133"
             "\u01c4\u01c5\u01c6\u01c7\u01c9\u01ca\u01cc\u0149\uff21\uff41\uff10\uff01\u3000\u2026\u00a0\u0085")
EMOJI = ["\U0001F600", "\U0001F44D\U0001F3FD", "\U0001F468\u200d\U0001F469\u200d\U0001F467", "\u2764\ufe0f",
         "\U0001F1EF\U0001F1F5", "\U0001F3F3\ufe0f\u200d\U0001F308", "#\ufe0f\u20e3"]
# Blocks to draw "any Unicode" from: Latin, Greek, Cyrillic, Armenian, Hebrew, Arabic, Devanagari, Thai, Georgian,
# Hangul Jamo, symbols, CJK, Hangul, Kana, fullwidth, math alphanumerics, emoji, a supplementary ideograph block.
BLOCKS = [(0x20, 0x24F), (0x250, 0x36F), (0x370, 0x52F), (0x530, 0x58F), (0x590, 0x6FF), (0x900, 0x97F),
          (0xE00, 0xE7F), (0x10A0, 0x10FF), (0x1100, 0x11FF), (0x1E00, 0x1FFF), (0x2000, 0x2BFF), (0x3000, 0x30FF),
          (0x4E00, 0x4FFF), (0xAC00, 0xAD00), (0xFB00, 0xFB4F), (0xFF00, 0xFFEF), (0x1D400, 0x1D7FF),
          (0x1F300, 0x1F64F), (0x20000, 0x20100)]


def _any_char(rng: random.Random) -> str:
    while True:
        lo, hi = BLOCKS[rng.randrange(len(BLOCKS))]
        ch = chr(rng.randint(lo, hi))
        if unicodedata.category(ch) not in ("Cn", "Cs", "Co"):
            return ch


def _entity(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.5:
        return "&" + ENTITY_NAMES[rng.randrange(len(ENTITY_NAMES))] + rng.choice(["", "", "x", "amp;", " "])
    if r < 0.8:
        num = rng.choice([0, 9, 13, 38, 60, 65, 128, 133, 150, 159, 0xA0, 0xE9, 0x2019, 0xD800, 0xFDD0, 0xFFFE,
                          0x1F600, 0x10FFFF, 0x110000, rng.randrange(0x3000)])
        # Without ';' a reference ends before a space, so following digits cannot extend it past Unicode 14.0
        # (Python 3.11's database), into code points Node's newer ICU classes differently.
        return rng.choice([f"&#{num};", f"&#x{num:x};", f"&#X{num:X} ", f"&#{num} "])
    return rng.choice(["&amp;amp;", "&amp;lt;b&amp;gt;", "&lt;html&gt;", "&;", "&#;", "&#x;", "&unknown;", "& amp;"])


def _mojibake(rng: random.Random) -> str:
    text = "".join(rng.choice("éèüñøßçœ€’“”–—…™😀中") for _ in range(rng.randint(1, 3)))
    data = text.encode("utf-8")
    return data.decode("cp1252", errors="ignore") if rng.random() < 0.5 else data.decode("latin-1")


def _part(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.30:
        w = WORDS[rng.randrange(len(WORDS))]
        return w.upper() if rng.random() < 0.1 else w.capitalize() if rng.random() < 0.1 else w
    if r < 0.45:
        return "".join(_any_char(rng) for _ in range(rng.randint(1, 6)))
    if r < 0.55:
        return "".join(rng.choice(SPACES) for _ in range(rng.randint(1, 3)))
    if r < 0.63:
        return rng.choice(PUNCT)
    if r < 0.69:
        return _entity(rng)
    if r < 0.74:
        return rng.choice(FANCY)
    if r < 0.78:
        return rng.choice(EMOJI)
    if r < 0.82:
        return _mojibake(rng)
    if r < 0.85:
        return rng.choice(["e\u0301", "A\u030a", "n\u0303", "\u1100\u1161", "i\u0307", "\u0130", "\u03a3",
                           "\u039f\u0394\u039f\u03a3 \u03a3", "\u2126", "\u212a"])
    if r < 0.88:
        return rng.choice([chr(rng.randint(0x80, 0x9F)), chr(rng.randint(0, 0x1F)), "\x7f", "\u206a", "\ufffc",
                           "\x1b[31m", "\x1b[1;2m", "\ud800", "\udfff"])
    if r < 0.91:
        return rng.choice(SPECIAL)
    if r < 0.96:
        return "".join(rng.choice("0123456789٠١٢३४५½²Ⅻ") for _ in range(rng.randint(1, 8)))
    return rng.choice(["http://example.com/a?b=1&c=2", "user@example.com", "C++", "#hashtag", "@mention", "x" * 40])


def random_texts(seed: int = SEED, count: int = COUNT) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for i in range(count):
        if i % 50 == 0:  # long texts: past the 77-id context, or exactly 300 characters
            text = " ".join(WORDS[rng.randrange(len(WORDS))] for _ in range(rng.randint(60, 120)))
            texts.append(text[:300] if i % 100 == 0 else text)
            continue
        parts = [_part(rng) for _ in range(rng.randint(0, 12))]
        texts.append("".join(p + (" " if rng.random() < 0.5 else "") for p in parts))
    return texts


def write_fixtures(out_dir: str) -> None:
    tok = ClipTokenizer()
    texts = random_texts()
    ids = [tok.ids(t, CONTEXT_LENGTH) for t in texts]
    os.makedirs(out_dir, exist_ok=True)
    # ensure_ascii keeps lone surrogates representable (as \\udXXX escapes, which JSON.parse reads back).
    with open(os.path.join(out_dir, "random.json"), "w", encoding="ascii") as f:
        json.dump({"seed": SEED, "context_length": CONTEXT_LENGTH, "texts": texts, "ids": ids}, f)
