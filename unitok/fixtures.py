"""Writes every cross-language parity fixture set the TypeScript tests read (`npm test` runs this first).

Each generator writes into its own sub-folder of --out: ONNX graphs, seeded inputs and the PyTorch outputs.
A DONE marker is written last, so an interrupted run is never mistaken for a complete one.
"""
from __future__ import annotations

import argparse
import importlib
import os
import shutil
import time

# name -> "module:function"; each function takes (out_dir: str) and writes its fixtures there.
GENERATORS = {
    "tokenizer": "unitok.export.tokenizer_fixtures:write_fixtures",
    "text_tokenizer": "unitok.text_tokenizer_fixtures:write_fixtures",
    "clip_tokenizer": "unitok.clip_tokenizer_fixtures:write_fixtures",
    "clip": "unitok.convert.clip_fixtures:write_fixtures",
    "mllm_graphs": "unitok.export.mllm_fixtures:write_fixtures",
    "reference_loop": "unitok.convert.loop_fixtures:write_fixtures",
}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m unitok fixtures", description=__doc__)
    ap.add_argument("--out", required=True, help="output folder (replaced)")
    ap.add_argument("--only", action="append", help="generate only these sets (repeatable)")
    args = ap.parse_args(argv)
    done = os.path.join(args.out, "DONE")
    if os.path.exists(done):
        os.remove(done)
    os.makedirs(args.out, exist_ok=True)
    for name, target in GENERATORS.items():
        if args.only and name not in args.only:
            continue
        t0 = time.time()
        sub = os.path.join(args.out, name)
        shutil.rmtree(sub, ignore_errors=True)
        mod, fn = target.split(":")
        getattr(importlib.import_module(mod), fn)(sub)
        print(f"fixtures/{name}: written in {time.time() - t0:.1f}s", flush=True)
    if not args.only:  # a partial run must not look complete to `npm test --only ts`
        with open(done, "w") as f:
            f.write("ok\n")
    return 0
