"""Training-step benchmark of the demo MLLM under CPU thread settings, side by side in one run.

    /usr/bin/python3 bench/train_threads.py [--batch 32] [--steps 6] [--settings 1:,2:,2:1]

Each setting is "TORCH_THREADS:OPENBLAS_THREADS" (empty: the library's default) and runs in a fresh process (the
OpenBLAS thread count is read once, at import), on seeded random weights and the train-mllm batch mix, so the
rows differ only in threads. Why: Debian's torch runs its own OpenMP threads and calls libopenblas0-pthread, whose
threads spin while they wait; two of each on a 2-core machine fight for the cores, and a step takes about twice as
long as with one torch thread (OpenBLAS still splits the large products over both cores). setup_torch's default
follows this table. Times are the median step after two warm-up steps; the machine's load is printed alongside.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import json, sys, time
import numpy as np, torch
sys.path.insert(0, {root!r})
from unitok.config import get_tokenizer_config
from unitok.demo import train_mllm as T
from unitok.modules.unitok import UniTok, init_random
from unitok.text_tokenizer import LlamaTokenizer
torch.set_num_threads({threads})
tok_model = init_random(UniTok(get_tokenizer_config("demo")), seed=0)
codes = np.random.default_rng(0).integers(0, 256, size=(64, 8, 64)).astype(np.uint8)
model = T.build_model(tok_model)
aux = T.AuxHeads(model.cfg.hidden_size, 8, layer=2)
params = [p for p in model.parameters() if p.requires_grad] + list(aux.parameters())
opt = torch.optim.AdamW(params, lr=1e-3)
rows, mix, times = T.Rows(LlamaTokenizer.load()), T.Mix(), []
for step in range({steps} + 2):
    t0 = time.perf_counter()
    out = T.step_losses(model, T.make_batch(rows, codes, step, {batch}, mix), "cpu", aux)
    opt.zero_grad(set_to_none=True)
    out["loss"].backward()
    opt.step()
    times.append(time.perf_counter() - t0)
print(json.dumps({{"torch_threads": torch.get_num_threads(), "step_s": float(np.median(times[2:]))}}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--settings", default="1:,2:,2:1", help="comma-separated TORCH_THREADS:OPENBLAS_THREADS")
    args = ap.parse_args()
    print(f"cores {os.cpu_count()}, load {os.getloadavg()[0]:.2f}; batch {args.batch}, median of {args.steps} steps")
    print("| torch threads | OpenBLAS threads | s / step | ms / row |\n|---|---|---|---|")
    for setting in args.settings.split(","):
        torch_threads, blas = setting.split(":")
        env = dict(os.environ)
        if blas:
            env["OPENBLAS_NUM_THREADS"] = blas
        code = CHILD.format(root=ROOT, threads=int(torch_threads), steps=args.steps, batch=args.batch)
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        if done.returncode:
            print(done.stderr, file=sys.stderr)
            return done.returncode
        r = json.loads(done.stdout.strip().splitlines()[-1])
        per_row = 1000 * r["step_s"] / args.batch
        print(f"| {r['torch_threads']} | {blas or 'default'} | {r['step_s']:.2f} | {per_row:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
