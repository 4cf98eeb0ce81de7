"""`python3 -m unitok <command> ...`: the toolkit's command line. Each command lives in its own module."""
from __future__ import annotations

import importlib
import sys

# command -> (module, one-line help). A module exposes `main(argv: list[str]) -> int`.
COMMANDS = {
    "export-tokenizer": ("unitok.export.tokenizer_onnx", "export the UniTok tokenizer graphs (random or released .pth)"),
    "convert": ("unitok.convert.convert", "convert the released checkpoints into one runtime bundle folder"),
    "regraph": ("unitok.convert.regraph", "bring a converted bundle to the current format (graphs only, no checkpoint)"),
    "import-bundle": ("unitok.convert.import_bundle",
                      "read a bundle's graphs back into the checkpoints the toolkit trains from (demo sizes)"),
    "build-tiny-bundle": ("unitok.convert.tiny_bundle", "rebuild (or --check) the committed random test bundle models/tiny"),
    "make-random-checkpoint": ("unitok.convert.random_checkpoint",
                               "write a seeded random checkpoint in the released layout (MLLM + tokenizer)"),
    "make-world": ("unitok.demo.world", "write a sample of the demo's synthetic shapes world (PNGs, captions, Q&A)"),
    "train-tokenizer": ("unitok.demo.train_tokenizer", "demo stage 1: train the UniTok tokenizer on the shapes world"),
    "train-mllm": ("unitok.demo.train_mllm", "demo stage 2: train the MLLM (VQA, captions, text-to-image) on it"),
    "rebuild-demo": ("unitok.demo.rebuild", "the demo's training stages in one resumable command (tokenizer, MLLM, read-out, CLIP)"),
    "evaluate": ("unitok.demo.evaluate", "held-out evaluation of a demo run: PSNR, zero-shot, VQA, text-to-image"),
    "build-demo-bundle": ("unitok.demo.bundle", "convert a demo run into models/demo with its model card"),
    "fixtures": ("unitok.fixtures", "write the seeded cross-language parity fixtures for the TypeScript tests"),
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python3 -m unitok <command> [options]\n\ncommands:")
        for name, (_, text) in COMMANDS.items():
            print(f"  {name:<20} {text}")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"unknown command {name!r}; run `python3 -m unitok --help`", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return module.main(rest) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
