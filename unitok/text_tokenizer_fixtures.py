"""Fixtures `text_tokenizer`: the Python tokenizer's ids and text on the shared cases, for the TypeScript parity test.

Reads test/data/text-tokenizer-cases.json and writes encodings.json: per text, its ids with and without BOS and the
decode of the former; per prompt, the encode_prompt segments; per extra id list, its decode. Decodes are given with
and without special tokens.
"""
from __future__ import annotations

import json
import os

from unitok.text_tokenizer import DEFAULT_DIR, LlamaTokenizer

CASES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test", "data",
                     "text-tokenizer-cases.json")


def load_cases() -> dict:
    with open(CASES, encoding="utf-8") as f:
        return json.load(f)


def write_fixtures(out_dir: str) -> None:
    tok = LlamaTokenizer.load(DEFAULT_DIR)
    cases = load_cases()

    def decodes(ids: list[int]) -> dict:
        return {"ids": ids, "decode": tok.decode(ids), "decode_skip_special": tok.decode(ids, skip_special_tokens=True)}

    out = {
        "texts": [{"text": t, "ids_no_bos": tok.encode(t, add_bos=False), **decodes(tok.encode(t))} for t in cases["texts"]],
        "prompts": [{"prompt": p, "segments": tok.encode_prompt(p)} for p in cases["prompts"]],
        "decode": [decodes(ids) for ids in cases["decode"]],
    }
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "encodings.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)
