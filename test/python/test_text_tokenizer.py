"""unitok/text_tokenizer.py: the pure-Python Llama-2 tokenizer against independent references (a naive BPE written
here from tokenizer.json, the released tokenizer_image_token copied verbatim), plus anchors, round trips and errors.
Parity with the TypeScript tokenizer is checked on the TypeScript side, through the `text_tokenizer` fixtures."""
import json
import os
import random
import shutil

import pytest

from unitok.text_tokenizer import DEFAULT_DIR, IMAGE_TOKEN_INDEX, SPECIAL_IDS, LlamaTokenizer
from unitok.text_tokenizer_fixtures import load_cases

SPACE = "\u2581"


@pytest.fixture(scope="module")
def tok():
    return LlamaTokenizer.load()


@pytest.fixture(scope="module")
def naive_encode():
    """Textbook BPE: merge the lowest-rank adjacent pair (leftmost on ties) until none is left. O(n^2), on strings."""
    with open(os.path.join(DEFAULT_DIR, "tokenizer.json"), encoding="utf-8") as f:
        model = json.load(f)["model"]
    vocab = model["vocab"]
    ranks = {tuple(m.split(" ")): r for r, m in enumerate(model["merges"])}

    def encode(text):
        syms = []
        for ch in SPACE + text.replace(" ", SPACE):
            syms += [ch] if ch in vocab else [f"<0x{b:02X}>" for b in ch.encode("utf-8")]
        while True:
            found = [(ranks[pair], i) for i, pair in enumerate(zip(syms, syms[1:])) if pair in ranks]
            if not found:
                return [vocab[s] for s in syms]
            _, i = min(found)
            syms[i:i + 2] = [syms[i] + syms[i + 1]]

    return encode


def released_tokenizer_image_token(prompt, encode_with_bos, image_token_index=IMAGE_TOKEN_INDEX):
    """eval/liquid/mm_utils.py, verbatim but for `tokenizer(chunk).input_ids` -> encode_with_bos(chunk)."""
    prompt_chunks = [encode_with_bos(chunk) for chunk in prompt.split("<image>")]

    def insert_separator(X, sep):
        return [ele for sublist in zip(X, [sep] * len(X)) for ele in sublist][:-1]

    input_ids = []
    offset = 0
    if len(prompt_chunks) > 0 and len(prompt_chunks[0]) > 0 and prompt_chunks[0][0] == SPECIAL_IDS["bos"]:
        offset = 1
        input_ids.append(prompt_chunks[0][0])
    for x in insert_separator(prompt_chunks, [image_token_index] * (offset + 1)):
        input_ids.extend(x[offset:])
    return input_ids


def random_texts(count, seed=7):
    pieces = ["a", "e", "r", "t", "h", "in", "ing", "the ", " ", "  ", "\n", ".", "0", "9", "é", "丂", "中", "😀", "𠀀"]
    rng = random.Random(seed)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 30))) for _ in range(count)]


PLAIN_TEXTS = [t for t in load_cases()["texts"] if t and not any(s in t for s in ("<s>", "</s>", "<unk>"))]


def test_known_ids(tok):
    assert tok.encode("Hello world!") == [1, 15043, 3186, 29991]
    assert tok.encode("the", add_bos=False) == [278]
    assert tok.encode("\x00\x01", add_bos=False) == [29871, SPECIAL_IDS["boi"], SPECIAL_IDS["eoi"]]
    assert tok.encode("") == [SPECIAL_IDS["bos"]] and tok.encode("", add_bos=False) == []


def test_bpe_matches_the_naive_reference(tok, naive_encode):
    for text in PLAIN_TEXTS + random_texts(200):
        assert tok.encode(text, add_bos=False) == naive_encode(text), repr(text)


def test_special_token_strings_get_their_ids_and_a_dummy_prefix_after(tok, naive_encode):
    assert tok.encode("a</s>USER: hi") == [1, *naive_encode("a"), SPECIAL_IDS["eos"], *naive_encode("USER: hi")]
    assert tok.encode("<s></s>", add_bos=False) == [SPECIAL_IDS["bos"], SPECIAL_IDS["eos"]]
    assert tok.encode("<s >", add_bos=False) == naive_encode("<s >")


def test_round_trip(tok):
    for text in PLAIN_TEXTS:
        if SPACE not in text:
            assert tok.decode(tok.encode(text), skip_special_tokens=True) == text
            assert tok.decode(tok.encode(text, add_bos=False)) == text


def test_decode_specials_spaces_and_invalid_utf8(tok):
    assert tok.decode([1, 15043, 2, 3186]) == "<s> Hello</s> world"
    assert tok.decode([1, 15043, 2, 3186], skip_special_tokens=True) == "Hello world"
    assert tok.decode([29871, 29871]) == " "
    assert tok.decode([0xE4 + 3, 0xB8 + 3]) == "\ufffd"
    assert tok.decode([0xE4 + 3, 0xB8 + 3, 0xAD + 3]) == "中"
    assert tok.decode([0xEF + 3, 0xBB + 3, 0xBF + 3, 15043]) == "\ufeff Hello"


def test_prompts_match_the_released_tokenizer_image_token(tok):
    for prompt in load_cases()["prompts"]:
        assert tok.tokenizer_image_token(prompt) == released_tokenizer_image_token(prompt, tok.encode), repr(prompt)


def test_vicuna_prompt_segments(tok):
    head, tail = "A chat. USER: ", "\nWhat is this? ASSISTANT:"
    segments = tok.encode_prompt(head + "<image>" + tail)
    assert segments == [{"type": "text", "ids": tok.encode(head)}, {"type": "image"},
                        {"type": "text", "ids": tok.encode(tail, add_bos=False)}]
    assert segments[2]["ids"][:2] == [29871, 13]  # the chunk's own dummy prefix "▁", then "\n"
    assert tok.encode_prompt("<image><image>") == [{"type": "text", "ids": [1]}, {"type": "image"}, {"type": "image"}]


def test_bad_input_is_refused(tok):
    with pytest.raises(TypeError, match="text must be a str"):
        tok.encode(b"bytes")
    with pytest.raises(ValueError, match="lone UTF-16 surrogate"):
        tok.encode("a\ud800")
    for bad in (-1, 32000, 1.0, True):
        with pytest.raises(ValueError, match=r"not an integer in \[0, 32000\)"):
            tok.decode([bad])
    with pytest.raises(TypeError, match="prompt must be a str"):
        tok.encode_prompt(None)


def test_load_refuses_missing_or_foreign_files(tmp_path):
    with pytest.raises(ValueError, match="cannot read"):
        LlamaTokenizer.load(str(tmp_path / "nowhere"))
    shutil.copy(os.path.join(DEFAULT_DIR, "tokenizer_config.json"), tmp_path)

    def load_variant(mutate):
        with open(os.path.join(DEFAULT_DIR, "tokenizer.json"), encoding="utf-8") as f:
            tj = json.load(f)
        mutate(tj)
        (tmp_path / "tokenizer.json").write_text(json.dumps(tj), encoding="utf-8")
        return LlamaTokenizer.load(str(tmp_path))

    with pytest.raises(ValueError, match="normalizer is not the Llama SentencePiece one"):
        load_variant(lambda tj: tj.update(normalizer=None))
    with pytest.raises(ValueError, match="vocab is not exactly the ids"):
        load_variant(lambda tj: tj["model"]["vocab"].pop("<0x41>"))
    with pytest.raises(ValueError, match="bos_token '<s>' is not the special id 1"):
        load_variant(lambda tj: tj["added_tokens"].pop(1))
