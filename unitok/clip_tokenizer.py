"""The CLIP text tokenizer of the UniTok release (open_clip's SimpleTokenizer), in pure Python; the twin of
src/tokenizer/clip-bpe.ts (same ids on every string, checked by the `clip_tokenizer` fixtures).

Pipeline (open_clip tokenizer.py): clean (ftfy.fix_text, html.unescape twice, strip), collapse whitespace to one
space, lower-case, split with open_clip's pattern, map UTF-8 bytes to CLIP's byte-characters, BPE by merge rank;
`__call__` adds <start_of_text> 49406 / <end_of_text> 49407, pads with 0 to the context length and, past it, cuts
and sets the last id to 49407.

Neither ftfy nor the `regex` module is available to the toolkit, so:
- the split pattern (`'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+`, IGNORECASE) is a hand-written
  scanner over Unicode categories (L* letters, N* numbers), alternatives tried in order at each position;
- ftfy.fix_text is replaced by the subset in `_ftfy_subset` (see docs/clip-tokenizer.md for what is and is not
  replicated). Both twins implement exactly that subset.
"""
from __future__ import annotations

import gzip
import html
import os
import re
import unicodedata
from typing import Iterable

SOT_ID = 49406
EOT_ID = 49407
VOCAB_SIZE = 49408
CONTEXT_LENGTH = 77
SPECIAL_TOKENS = ("<start_of_text>", "<end_of_text>")
MERGES_USED = 49152 - 256 - 2  # open_clip: merges[1:49152-256-2+1], after the version header
MERGES_SHA256 = "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a"
DEFAULT_MERGES = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets", "clip", "bpe_simple_vocab_16e6.txt.gz")


def bytes_to_unicode() -> dict[int, str]:
    """CLIP/GPT-2's reversible byte -> printable character map (printable Latin-1 bytes map to themselves)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


# --- ftfy.fix_text, the subset both twins implement --------------------------------------------------------------

# ftfy's remove_control_chars set (chardata.CONTROL_CHARS).
_CONTROL = dict.fromkeys(
    [*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F, *range(0x206A, 0x2070), 0xFEFF, *range(0xFFF9, 0xFFFD)])
_TERMINAL_ESCAPE = re.compile(r"\x1b\[((?:\d|;)*)([a-zA-Z])")
_LIGATURES = {"Ĳ": "IJ", "ĳ": "ij", "ŉ": "ʼn", "Ǳ": "DZ", "ǲ": "Dz", "ǳ": "dz", "Ǆ": "DŽ", "ǅ": "Dž", "ǆ": "dž",
              "Ǉ": "LJ", "ǈ": "Lj", "ǉ": "lj", "Ǌ": "NJ", "ǋ": "Nj", "ǌ": "nj", "ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl",
              "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "ſt", "ﬆ": "st"}
_SINGLE_QUOTES = "\u2018\u2019\u201a\u201b"
_DOUBLE_QUOTES = "\u201c\u201d\u201e\u201f"
_LINE_BREAKS = re.compile("\r\n|[\r\u2028\u2029\u0085]")
# Windows-1252's 0x80-0x9F (the five undefined bytes keep their Latin-1 C1 meaning: ftfy's "sloppy" codec).
_CP1252_HIGH = "€\x81‚ƒ„…†‡ˆ‰Š‹Œ\x8dŽ\x8f\x90‘’“”•–—˜™š›œ\x9džŸ"
_SLOPPY_BYTE = {ch: 0x80 + i for i, ch in enumerate(_CP1252_HIGH)}
# A UTF-8 multi-byte sequence read as sloppy Windows-1252 (lead byte, then continuation bytes 0x80-0xBF).
_CONT = "[\x80-\xbf" + "".join(ch for ch in _CP1252_HIGH if ord(ch) > 0xff) + "]"
_MOJIBAKE = re.compile(f"[\xc2-\xdf]{_CONT}|[\xe0-\xef]{_CONT}{{2}}|[\xf0-\xf4]{_CONT}{{3}}")


def _sloppy_bytes(s: str) -> bytes:
    return bytes(_SLOPPY_BYTE.get(ch, ord(ch)) for ch in s)


def _fix_mojibake(match: re.Match) -> str:
    try:
        return _sloppy_bytes(match.group(0)).decode("utf-8")
    except UnicodeDecodeError:
        return match.group(0)


def _fix_character_width(ch: str) -> str:
    # ftfy.fix_character_width: NFKC on the halfwidth/fullwidth forms block (U+FF01-U+FFEE) and the ideographic space.
    o = ord(ch)
    return unicodedata.normalize("NFKC", ch) if 0xFF01 <= o <= 0xFFEE or o == 0x3000 else ch


def ftfy_subset(text: str) -> str:
    """The part of ftfy.fix_text (6.x defaults) that this project replicates, in ftfy's order."""
    for _ in range(4):  # ftfy repeats its steps until nothing changes
        before = text
        if "<" not in text:  # unescape_html="auto"
            text = _html_unescape_strict(text)
        text = _TERMINAL_ESCAPE.sub("", text)
        text = _MOJIBAKE.sub(_fix_mojibake, text)
        text = "".join(_CP1252_HIGH[ord(c) - 0x80] if 0x80 <= ord(c) <= 0x9F else c for c in text)  # fix_c1_controls
        text = "".join(_LIGATURES.get(c, c) for c in text)
        text = "".join(_fix_character_width(c) for c in text)
        text = re.sub(f"[{_SINGLE_QUOTES}]", "'", text)
        text = re.sub(f"[{_DOUBLE_QUOTES}]", '"', text)
        text = _LINE_BREAKS.sub("\n", text)
        text = re.sub("[\ud800-\udfff]", "\ufffd", text)  # fix_surrogates (lone ones)
        text = text.translate(_CONTROL)
        text = unicodedata.normalize("NFC", text)
        if text == before:
            break
    return text


_STRICT_ENTITY = re.compile(r"&#?[0-9A-Za-z]{1,24};")


def _html_unescape_strict(text: str) -> str:
    """ftfy.unescape_html: only `&name;` / `&#n;` forms with their semicolon; others stay as they are."""
    def fix(m: re.Match) -> str:
        out = html.unescape(m.group(0))
        return m.group(0) if ";" in out else out
    return _STRICT_ENTITY.sub(fix, text)


# Python's str.isspace, which `re`'s \s matches on str patterns (whitespace_clean uses \s+).
_WHITESPACE = re.compile(r"\s+")


def clean(text: str) -> str:
    """open_clip's whitespace_clean(basic_clean(text)).lower(), with ftfy replaced by `ftfy_subset`."""
    text = html.unescape(html.unescape(ftfy_subset(text))).strip()
    return _WHITESPACE.sub(" ", text).strip().lower()


# --- pre-tokenizer ------------------------------------------------------------------------------------------------

_CONTRACTIONS = ("s", "t", "re", "ve", "m", "ll", "d")


def _kind(ch: str) -> str:
    """'L' letter, 'N' number, ' ' whitespace, 'P' anything else (the pattern's [^\\s\\p{L}\\p{N}])."""
    if ch.isspace():
        return " "
    return {"L": "L", "N": "N"}.get(unicodedata.category(ch)[0], "P")


def _fold(ch: str) -> str:
    return "s" if ch == "ſ" else ch  # IGNORECASE: U+017F LONG S folds to s


def pre_tokenize(text: str) -> list[str]:
    """The matches of open_clip's pattern, in order (whitespace between them skipped)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        special = next((s for s in SPECIAL_TOKENS if text.startswith(s, i)), None)
        if special is not None:
            out.append(special)
            i += len(special)
            continue
        if text[i] == "'":
            c = next((c for c in _CONTRACTIONS
                      if "".join(_fold(ch) for ch in text[i + 1:i + 1 + len(c)]) == c), None)
            if c is not None:
                out.append(text[i:i + 1 + len(c)])
                i += 1 + len(c)
                continue
        kind = _kind(text[i])
        if kind == " ":
            i += 1
            continue
        if kind == "N":
            out.append(text[i])
            i += 1
            continue
        j = i + 1
        while j < n and _kind(text[j]) == kind:
            j += 1
        out.append(text[i:j])
        i = j
    return out


# --- BPE ----------------------------------------------------------------------------------------------------------

class ClipTokenizer:
    """open_clip's SimpleTokenizer + tokenize(): `encode(text)` gives BPE ids without special tokens, calling it gives
    a [B, context_length] LongTensor with <start_of_text>, <end_of_text> and zero padding."""

    def __init__(self, merges_path: str | None = None):
        path = merges_path or DEFAULT_MERGES
        try:
            with gzip.open(path) as f:
                lines = f.read().decode("utf-8").split("\n")
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"cannot read the CLIP BPE merges file {path}: {e}") from e
        merges = [tuple(line.split()) for line in lines[1:MERGES_USED + 1]]
        if len(merges) != MERGES_USED or any(len(m) != 2 for m in merges):
            raise ValueError(f"{path}: expected {MERGES_USED} merge lines of two symbols after the header")
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {v: k for k, v in self.byte_encoder.items()}
        vocab = list(self.byte_encoder.values())
        vocab += [v + "</w>" for v in vocab]
        vocab += ["".join(m) for m in merges]
        vocab += list(SPECIAL_TOKENS)
        self.encoder = {tok: i for i, tok in enumerate(vocab)}
        self.decoder = dict(enumerate(vocab))
        self.bpe_ranks = {m: r for r, m in enumerate(merges)}
        self.sot_id = self.encoder[SPECIAL_TOKENS[0]]
        self.eot_id = self.encoder[SPECIAL_TOKENS[1]]
        self._cache: dict[str, list[str]] = {s: [s] for s in SPECIAL_TOKENS}

    def bpe(self, token: str) -> list[str]:
        """BPE of one pre-token (already byte-encoded): lowest-rank adjacent pair first, all its occurrences at once."""
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            ranked = [(self.bpe_ranks.get(p, MERGES_USED), p) for p in zip(word, word[1:])]
            rank, (first, second) = min(ranked, key=lambda rp: rp[0])
            if rank == MERGES_USED:
                break
            merged: list[str] = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        if len(self._cache) < 100_000:
            self._cache[token] = word
        return word

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for piece in pre_tokenize(clean(text)):
            if piece in SPECIAL_TOKENS:
                ids.append(self.encoder[piece])
                continue
            token = "".join(self.byte_encoder[b] for b in piece.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(token))
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """open_clip's decode: byte-characters back to UTF-8 (invalid bytes replaced), `</w>` -> space."""
        text = "".join(self.decoder[int(i)] for i in ids)
        return bytearray(self.byte_decoder[c] for c in text).decode("utf-8", errors="replace").replace("</w>", " ")

    def ids(self, text: str, context_length: int = CONTEXT_LENGTH) -> list[int]:
        """One row of tokenize() without the padding: sot, ids, eot, cut to context_length with eot last."""
        if context_length < 2:
            raise ValueError(f"context_length must be at least 2, got {context_length}")
        row = [self.sot_id, *self.encode(text), self.eot_id]
        if len(row) > context_length:
            row = row[:context_length]
            row[-1] = self.eot_id
        return row

    def __call__(self, texts: str | list[str], context_length: int = CONTEXT_LENGTH):
        import torch

        if isinstance(texts, str):
            texts = [texts]
        out = torch.zeros(len(texts), context_length, dtype=torch.long)
        for b, text in enumerate(texts):
            row = self.ids(text, context_length)
            out[b, :len(row)] = torch.tensor(row, dtype=torch.long)
        return out
