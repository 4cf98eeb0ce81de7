"""`python3 -m unitok <command> ...`: the toolkit's command line. Each command lives in its own module."""
from __future__ import annotations

import importlib
import sys

# command -> (module, one-line help). A module exposes `main(argv: list[str]) -> int`.
COMMANDS = {
    "export-tokenizer": ("unitok.export.tokenizer_onnx", "export the UniTok tokenizer graphs (random or released .pth)"),
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
