"""The Llama-2 text tokenizer in pure Python, the twin of src/model/main-thread/text-tokenizer.ts (same ids, same text).

It reads assets/llama2/tokenizer.json (built by scripts/build-llama-tokenizer.mjs) and implements the one pipeline
that file describes, the legacy SentencePiece emulation of Hugging Face's Llama tokenizer:
  encode: split out special-token strings (<unk>, <s>, </s>); give every other piece SentencePiece's dummy prefix
          ("▁" + text, spaces -> "▁"); BPE by merge rank, leftmost first on ties; characters outside the vocabulary
          fall back to their UTF-8 byte tokens <0x00>..<0xFF> (ids 3..258); BOS (id 1) in front on request.
  decode: each id's bytes ("▁" -> space), UTF-8 with U+FFFD for invalid bytes, one leading space removed.
No `tokenizers` or `sentencepiece` package is needed.
"""
from __future__ import annotations

import heapq
import json
import os
import re
from typing import Iterable

SPECIAL_IDS = {"pad": 0, "unk": 0, "bos": 1, "eos": 2, "boi": 3, "eoi": 4}
VOCAB_SIZE = 32000
IMAGE_PLACEHOLDER = "<image>"
IMAGE_TOKEN_INDEX = -200  # eval/liquid/constants.py: what tokenizer_image_token puts where an image goes
DEFAULT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets", "llama2")

SPACE = "\u2581"  # "▁"
FIRST_BYTE_ID = 3  # <0x00>
_BYTE_PIECE = re.compile(r"<0x([0-9A-F]{2})>")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# The only pipeline this module (and decode() in the TypeScript twin) implements; another file is refused.
_EXPECTED_PIPELINE = {
    "normalizer": {
        "type": "Sequence",
        "normalizers": [
            {"type": "Prepend", "prepend": SPACE},
            {"type": "Replace", "pattern": {"String": " "}, "content": SPACE},
        ],
    },
    "pre_tokenizer": None,
    "decoder": {
        "type": "Sequence",
        "decoders": [
            {"type": "Replace", "pattern": {"String": SPACE}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0},
        ],
    },
}


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e}") from e
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return value


def _check(ok: bool, path: str, what: str) -> None:
    if not ok:
        raise ValueError(f"{path}: {what}")


class LlamaTokenizer:
    def __init__(self, vocab: dict[str, int], merges: list[str], special_tokens: dict[str, int], add_bos: bool):
        self.vocab = vocab
        self.add_bos = add_bos
        self.special_tokens = special_tokens
        pieces = sorted(vocab, key=vocab.__getitem__)
        # (left id, right id) -> (rank, merged id)
        self.merges: dict[tuple[int, int], tuple[int, int]] = {}
        for rank, merge in enumerate(merges):
            left, right = merge.split(" ")
            self.merges[(vocab[left], vocab[right])] = (rank, vocab[left + right])
        self.piece_bytes = [
            bytes([int(m.group(1), 16)]) if (m := _BYTE_PIECE.fullmatch(p)) else p.replace(SPACE, " ").encode("utf-8")
            for p in pieces
        ]
        # Longest first, so that at one position the longest special token wins (as the tokenizers' trie does).
        names = sorted(special_tokens, key=len, reverse=True)
        self._special_split = re.compile("(" + "|".join(map(re.escape, names)) + ")")

    @classmethod
    def load(cls, directory: str = DEFAULT_DIR) -> "LlamaTokenizer":
        """Reads tokenizer.json + tokenizer_config.json from `directory` and checks they are Llama-2's."""
        json_path = os.path.join(directory, "tokenizer.json")
        config_path = os.path.join(directory, "tokenizer_config.json")
        tj, config = _read_json(json_path), _read_json(config_path)
        model = tj.get("model") or {}
        _check(model.get("type") == "BPE" and model.get("byte_fallback") is True, json_path,
               "model is not BPE with byte_fallback")
        for key, expected in _EXPECTED_PIPELINE.items():
            _check(tj.get(key, "missing") == expected, json_path,
                   f"{key} is not the Llama SentencePiece one this module implements")
        vocab = model.get("vocab") or {}
        ids = sorted(vocab.values())
        _check(ids == list(range(VOCAB_SIZE)), json_path, f"vocab is not exactly the ids 0..{VOCAB_SIZE - 1}")
        special = {t["content"]: t["id"] for t in tj.get("added_tokens", []) if t.get("special")}
        for name in ("unk", "bos", "eos"):
            content = config.get(f"{name}_token")
            _check(special.get(content) == SPECIAL_IDS[name] and vocab.get(content) == SPECIAL_IDS[name], config_path,
                   f"{name}_token {content!r} is not the special id {SPECIAL_IDS[name]} of {json_path}")
        _check(vocab.get("<0x00>") == SPECIAL_IDS["boi"] and vocab.get("<0x01>") == SPECIAL_IDS["eoi"], json_path,
               "ids 3/4 are not <0x00>/<0x01>")
        _check(isinstance(config.get("add_bos_token"), bool), config_path, "add_bos_token must be a boolean")
        merges = model.get("merges") or []
        _check(all(isinstance(m, str) and m.count(" ") == 1 and m.replace(" ", "") in vocab for m in merges),
               json_path, 'merges must be "left right" strings of vocab tokens that merge into a vocab token')
        return cls(vocab, merges, special, config["add_bos_token"])

    def encode(self, text: str, add_bos: bool | None = None) -> list[int]:
        """Token ids of `text`; special-token strings in the text ("</s>") become their ids, as in transformers."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if _LONE_SURROGATE.search(text):
            raise ValueError("text contains a lone UTF-16 surrogate (not valid Unicode)")
        ids = [SPECIAL_IDS["bos"]] if (self.add_bos if add_bos is None else add_bos) else []
        for piece in self._special_split.split(text):
            if piece in self.special_tokens:
                ids.append(self.special_tokens[piece])
            elif piece:
                ids.extend(self._bpe(SPACE + piece.replace(" ", SPACE)))
        return ids

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = False) -> str:
        """Text of `ids`: bytes joined, invalid UTF-8 shown as U+FFFD, the first space (dummy prefix) removed."""
        skip = set(self.special_tokens.values()) if skip_special_tokens else set()
        out = bytearray()
        for i in ids:
            if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(self.piece_bytes):
                raise ValueError(f"token id {i!r} is not an integer in [0, {len(self.piece_bytes)})")
            if i not in skip:
                out += self.piece_bytes[i]
        text = out.decode("utf-8", errors="replace")
        return text[1:] if text.startswith(" ") else text

    def encode_prompt(self, prompt: str) -> list[dict]:
        """eval/liquid/mm_utils.py tokenizer_image_token as segments {"type": "text", "ids": [...]} | {"type": "image"}.

        Each chunk between "<image>" placeholders is tokenized on its own with BOS and only the first chunk keeps it,
        so each chunk gets SentencePiece's dummy prefix ("<image>\\n..." -> image, 29871, 13, ...); see the TypeScript
        twin for why that is kept. Empty text segments are left out.
        """
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
        segments: list[dict] = []
        for i, chunk in enumerate(prompt.split(IMAGE_PLACEHOLDER)):
            if i > 0:
                segments.append({"type": "image"})
            ids = self.encode(chunk, add_bos=i == 0)
            if ids:
                segments.append({"type": "text", "ids": ids})
        return segments

    def tokenizer_image_token(self, prompt: str) -> list[int]:
        """The released function's flat output: IMAGE_TOKEN_INDEX (-200) where each image goes."""
        return [t for s in self.encode_prompt(prompt) for t in (s["ids"] if s["type"] == "text" else [IMAGE_TOKEN_INDEX])]

    def _bpe(self, text: str) -> list[int]:
        """BPE over one normalized piece: repeatedly merge the lowest-rank adjacent pair, leftmost first."""
        ids: list[int] = []
        for ch in text:
            i = self.vocab.get(ch)
            ids.extend([i] if i is not None else [FIRST_BYTE_ID + b for b in ch.encode("utf-8")])
        # A doubly linked list over positions; a merged-away position gets id -1. A heap entry is stale unless the
        # pair it names is still there: symbols only ever grow, so an id never comes back at a position.
        nxt = list(range(1, len(ids))) + [-1]
        prv = list(range(-1, len(ids) - 1))
        heap: list[tuple[int, int, int, int]] = []

        def push(pos: int) -> None:
            if pos >= 0 and nxt[pos] >= 0 and (m := self.merges.get((ids[pos], ids[nxt[pos]]))) is not None:
                heapq.heappush(heap, (m[0], pos, ids[pos], ids[nxt[pos]]))

        for pos in range(len(ids)):
            push(pos)
        while heap:
            _, pos, left, right = heapq.heappop(heap)
            j = nxt[pos]
            if ids[pos] != left or j < 0 or ids[j] != right:
                continue
            ids[pos] = self.merges[(left, right)][1]
            ids[j] = -1
            nxt[pos] = nxt[j]
            if nxt[j] >= 0:
                prv[nxt[j]] = pos
            push(prv[pos])
            push(pos)
        return [i for i in ids if i >= 0]
