"""The Llama-2 text tokenizer files of an MLLM folder: choosing the bundle's tokenizer.json, and a minimal
sentencepiece model reader.

The released `unitok_mllm` folder (a transformers save of a slow LlamaTokenizer) carries `tokenizer.model`, a
sentencepiece protobuf, not `tokenizer.json`. Turning a sentencepiece model into a tokenizer.json needs the
sentencepiece library, which this toolkit does not use. Instead the bundle takes the project's own Llama-2
tokenizer.json (assets/llama2/) after checking, piece by piece, that it has exactly the vocabulary of the
folder's tokenizer.model. Only the vocabulary (`pieces`, protobuf field 1) is read; sentencepiece's
normalizer and trainer settings are not, and are assumed to be Llama-2's.
"""
from __future__ import annotations

import json
import os
import shutil
import struct

ASSETS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "assets", "llama2")
JSON_FILES = ("tokenizer.json", "tokenizer_config.json")
SPM_FILE = "tokenizer.model"
# Ids the released model relies on (eval/liquid/train.py): boi/eoi are the byte-fallback pieces of bytes 0 and 1.
EXPECTED_PIECES = {0: "<unk>", 1: "<s>", 2: "</s>", 3: "<0x00>", 4: "<0x01>"}

# sentencepiece ModelProto.SentencePiece.Type
NORMAL, UNKNOWN, CONTROL, BYTE = 1, 2, 3, 6


class TokenizerFilesError(ValueError):
    pass


# ------------------------------------------------------------------------------- protobuf wire format


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise TokenizerFilesError("truncated varint")
        b = buf[pos]
        value |= (b & 0x7F) << shift
        pos += 1
        if not b & 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes):
    """(field number, wire type, value) of one protobuf message; length-delimited values are bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + n], pos + n
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise TokenizerFilesError(f"unsupported protobuf wire type {wire}")
        if pos > len(buf):
            raise TokenizerFilesError("truncated protobuf field")
        yield field, wire, value


def _put_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _put_field(field: int, wire: int, payload: bytes) -> bytes:
    key = _put_varint(field << 3 | wire)
    return key + (_put_varint(len(payload)) + payload if wire == 2 else payload)


def read_sentencepiece_pieces(path: str) -> list[tuple[str, float, int]]:
    """(piece, score, type) for every id of a sentencepiece model file, in id order."""
    with open(path, "rb") as f:
        buf = f.read()
    pieces = []
    try:
        for field, wire, value in _fields(buf):
            if field != 1 or wire != 2:
                continue
            piece, score, kind = "", 0.0, NORMAL
            for f2, w2, v2 in _fields(value):
                if f2 == 1 and w2 == 2:
                    piece = v2.decode("utf-8")
                elif f2 == 2 and w2 == 5:
                    (score,) = struct.unpack("<f", v2)
                elif f2 == 3 and w2 == 0:
                    kind = v2
            pieces.append((piece, score, kind))
    except (TokenizerFilesError, UnicodeDecodeError) as e:
        raise TokenizerFilesError(f"{path}: not a sentencepiece model ({e})") from None
    if not pieces:
        raise TokenizerFilesError(f"{path}: not a sentencepiece model (no pieces)")
    return pieces


def write_sentencepiece_model(path: str, pieces: list[tuple[str, float, int]]) -> None:
    """A sentencepiece model file holding the vocabulary and a BPE / byte-fallback trainer spec (for tests)."""
    body = b"".join(
        _put_field(1, 2, _put_field(1, 2, p.encode()) + _put_field(2, 5, struct.pack("<f", s)) + _put_field(3, 0, _put_varint(t)))
        for p, s, t in pieces)
    # TrainerSpec: model_type (3) = BPE (2), vocab_size (4), byte_fallback (35).
    trainer = _put_field(3, 0, _put_varint(2)) + _put_field(4, 0, _put_varint(len(pieces))) + _put_field(35, 0, b"\x01")
    with open(path, "wb") as f:
        f.write(body + _put_field(2, 2, trainer))


# ------------------------------------------------------------------------------- tokenizer.json vocabulary


def tokenizer_json_vocab(path: str) -> list[str]:
    """Pieces of a Hugging Face tokenizer.json in id order (model vocabulary plus added tokens)."""
    with open(path, encoding="utf-8") as f:
        tok = json.load(f)
    by_id = {i: p for p, i in tok["model"]["vocab"].items()}
    by_id.update({t["id"]: t["content"] for t in tok.get("added_tokens", [])})
    n = max(by_id) + 1 if by_id else 0
    missing = [i for i in range(n) if i not in by_id]
    if missing:
        raise TokenizerFilesError(f"{path}: ids without a token: {missing[:10]}")
    return [by_id[i] for i in range(n)]


def _check_vocab(pieces: list[str], vocab_size: int, source: str) -> None:
    if len(pieces) != vocab_size:
        raise TokenizerFilesError(f"{source} has {len(pieces)} tokens but the model's vocab_size is {vocab_size}")
    wrong = [f"id {i}: {pieces[i]!r} (expected {p!r})" for i, p in EXPECTED_PIECES.items() if pieces[i] != p]
    if wrong:
        raise TokenizerFilesError(f"{source}: special ids differ from Llama-2's: " + "; ".join(wrong))


def choose_tokenizer_files(mllm_dir: str, vocab_size: int, log=print) -> tuple[str, str]:
    """Validate and pick the (tokenizer.json, tokenizer_config.json) to bundle. Returns their paths and a note
    saying where they came from. Raises TokenizerFilesError with the reason when nothing fits."""
    own = os.path.join(mllm_dir, "tokenizer.json")
    assets_json = os.path.join(ASSETS, "tokenizer.json")
    if os.path.isfile(own):
        _check_vocab(tokenizer_json_vocab(own), vocab_size, own)
        config = os.path.join(mllm_dir, "tokenizer_config.json")
        return own, config if os.path.isfile(config) else os.path.join(ASSETS, "tokenizer_config.json")
    if not os.path.isfile(assets_json):
        raise TokenizerFilesError(f"{mllm_dir} has no tokenizer.json and the project's {assets_json} is missing")
    ours = tokenizer_json_vocab(assets_json)
    spm = os.path.join(mllm_dir, SPM_FILE)
    if os.path.isfile(spm):
        theirs = [p for p, _, _ in read_sentencepiece_pieces(spm)]
        _check_vocab(theirs, vocab_size, spm)
        diff = [f"id {i}: {a!r} vs {b!r}" for i, (a, b) in enumerate(zip(theirs, ours)) if a != b]
        if diff or len(theirs) != len(ours):
            raise TokenizerFilesError(
                f"{spm} differs from the project's Llama-2 tokenizer ({len(theirs)} vs {len(ours)} pieces; "
                f"{len(diff)} differ, first: {'; '.join(diff[:5])}); a tokenizer.json for it is needed")
        log(f"tokenizer: {SPM_FILE} matches the project's Llama-2 tokenizer.json piece for piece; bundling that")
    else:
        _check_vocab(ours, vocab_size, assets_json)
        log(f"warning: {mllm_dir} has no tokenizer files; bundling the project's Llama-2 tokenizer "
            f"(only its size, {vocab_size}, and special ids could be checked)")
    return assets_json, os.path.join(ASSETS, "tokenizer_config.json")


def write_tokenizer_files(folder: str, kind: str) -> None:
    """Put Llama-2 tokenizer files into a random MLLM folder: 'json' copies the project's tokenizer.json and
    tokenizer_config.json; 'sentencepiece' writes a tokenizer.model with the same vocabulary, as the released
    folder has (scores are stand-ins: 0 for special pieces, -rank for the others)."""
    src = os.path.join(ASSETS, "tokenizer.json")
    if kind == "json":
        for name in JSON_FILES:
            shutil.copyfile(os.path.join(ASSETS, name), os.path.join(folder, name))
        return
    pieces = []
    for i, p in enumerate(tokenizer_json_vocab(src)):
        kind_ = UNKNOWN if i == 0 else CONTROL if p in ("<s>", "</s>") else BYTE if p.startswith("<0x") else NORMAL
        pieces.append((p, -float(i) if kind_ == NORMAL else 0.0, kind_))
    write_sentencepiece_model(os.path.join(folder, SPM_FILE), pieces)
    with open(os.path.join(folder, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<unk>"}, f, indent=2)
    shutil.copyfile(os.path.join(ASSETS, "tokenizer_config.json"), os.path.join(folder, "tokenizer_config.json"))
