"""Rebuild the demo model's weights in one command, resumable.

    python3 -m unitok rebuild-demo --out runs/demo

Stages (each one of the toolkit's own commands, its output in --out/logs/<stage>.log):
  tokenizer   train-tokenizer: the UniTok tokenizer (codes, decoder, CLIP side)
  mllm        train-mllm: the MLLM on the tokenizer's codes
  readout     train-tokenizer --decoder-only --readout-weight: the decoder and the CLIP image head on fixed codes
  readout-more  the same, continued from readout's checkpoint to a 44-minute budget (models/demo's run 22ro)
  clip        train-tokenizer --clip-only: the CLIP side's text tower
They run one after another (28 + 120 + 22 + 22 + 2 = 194 minutes by default on the 2-core CPU). The later stages
change nothing the MLLM reads (it copies post_quant_proj when it starts, and the codes stay), but they do not run
beside it: each stage already keeps both cores busy (torch's one thread calls the pthreads OpenBLAS, whose threads
split the large products and spin while they wait), and with the read-out stage beside it an MLLM step took 2.5x
as long (0.18 against 0.46 steps/s, docs/demo-training.md), which costs the MLLM's wall-clock budget more steps
than running the stages apart costs minutes.

Re-running the command continues: a finished stage (a marker in --out/stages/) is skipped, an interrupted one
resumes from its own checkpoint. Then evaluate and build the bundle (printed at the end; see
docs/demo-training.md).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time

from .bundle import evaluation_commands

# models/demo's recipe (its model card lists the same commands); minutes are wall-clock budgets.
TOKENIZER = ["--minutes", "28", "--edge-weight", "16"]
MLLM = ["--minutes", "120"]
READOUT = ["--decoder-only", "--batch", "16", "--lr", "1e-3", "--minutes", "22", "--edge-weight", "16",
           "--readout-weight", "4"]
# Resumes readout's checkpoint (its 22 minutes count): the LR restarts at mid-cosine and decays over the rest.
READOUT_MORE = ["--decoder-only", "--batch", "16", "--lr", "1e-3", "--minutes", "44", "--steps", "10000",
                "--edge-weight", "16", "--readout-weight", "4"]
CLIP = ["--clip-only", "--steps", "800", "--batch", "64", "--lr", "5e-4", "--minutes", "3"]
STAGES = ("tokenizer", "mllm", "readout", "readout-more", "clip")  # in this order
# models/demo's image sampling (chosen on train-split prompts, docs/demo-training.md).
SAMPLING = {"cfg_scale": 1.5, "temperature": 0.6, "top_k": 0, "top_p": 1.0, "best_of": 4}


def command(out: str, name: str, args: list[str]) -> list[str]:
    """The argv of one of the toolkit's commands on run folder `out`."""
    return [sys.executable, "-m", "unitok", name, "--out", out, *args]


class Rebuild:
    """The stages' commands, their done markers (--out/stages/) and logs (--out/logs/), and a record of the wall
    clock per session and stage (--out/rebuild.json)."""

    def __init__(self, out: str, stages: dict[str, list[str]]):
        self.stages = {name: (argv, os.path.join(out, "logs", f"{name}.log"),
                              os.path.join(out, "stages", f"{name}.done")) for name, argv in stages.items()}
        os.makedirs(os.path.join(out, "logs"), exist_ok=True)
        os.makedirs(os.path.join(out, "stages"), exist_ok=True)
        self.record_path = os.path.join(out, "rebuild.json")
        self.record = {"sessions": []}
        if os.path.isfile(self.record_path):
            with open(self.record_path) as f:
                self.record = json.load(f)
        self.record["sessions"].append({"started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                                        "stages": {}})
        self.t0 = time.monotonic()

    def done(self, name: str) -> bool:
        return os.path.isfile(self.stages[name][2])

    def run(self, name: str) -> None:
        """Runs stage `name` unless it is done; marks it done, or raises with its log's tail."""
        argv, log, marker = self.stages[name]
        if self.done(name):
            print(f"{name}: done before ({marker})", flush=True)
            return
        print(f"[{self._clock()}] {name}: {shlex.join(argv)}  (log: {log})", flush=True)
        started = time.monotonic()
        with open(log, "a") as f:
            code = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT).returncode
        minutes = (time.monotonic() - started) / 60
        self.record["sessions"][-1]["stages"][name] = {"minutes": round(minutes, 2), "exit": code}
        self._save()
        if code != 0:
            with open(log) as f:
                tail = "".join(f.readlines()[-15:])
            raise RuntimeError(f"stage {name} failed (exit {code}); the end of {log}:\n{tail}")
        with open(marker, "w") as f:
            f.write(time.strftime("%Y-%m-%d %H:%M:%S UTC\n", time.gmtime()))
        print(f"[{self._clock()}] {name}: done in {minutes:.1f} min", flush=True)

    def close(self) -> None:
        self.record["sessions"][-1]["minutes"] = round((time.monotonic() - self.t0) / 60, 2)
        self.record["total_minutes"] = round(sum(s.get("minutes", 0) for s in self.record["sessions"]), 2)
        self._save()

    def _clock(self) -> str:
        return f"{(time.monotonic() - self.t0) / 60:6.1f} min"

    def _save(self) -> None:
        tmp = self.record_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.record, f, indent=2)
        os.replace(tmp, self.record_path)


def rebuild(out: str, stages: dict[str, list[str]]) -> dict:
    """Runs the stages (name -> argv, in the order of STAGES) one after another, skipping finished ones. Returns
    the wall-clock record."""
    r = Rebuild(out, stages)
    try:
        for name in STAGES:
            r.run(name)
    finally:
        r.close()
    return r.record


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m unitok rebuild-demo", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/demo", help="run folder (created; re-running continues it)")
    for name, default in zip(STAGES, (TOKENIZER, MLLM, READOUT, READOUT_MORE, CLIP)):
        ap.add_argument(f"--{name}-args", default=shlex.join(default),
                        help=f"options of the {name} stage (default: %(default)s)")
    args = ap.parse_args(argv)
    commands = {"tokenizer": "train-tokenizer", "mllm": "train-mllm", "readout": "train-tokenizer",
                "readout-more": "train-tokenizer", "clip": "train-tokenizer"}
    stages = {name: command(args.out, commands[name], shlex.split(getattr(args, f"{name.replace('-', '_')}_args")))
              for name in STAGES}
    try:
        record = rebuild(args.out, stages)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"rebuilt in {record['total_minutes']:.1f} wall-clock minutes (over {len(record['sessions'])} "
          f"session(s)); next:\n{evaluation_commands(args.out, SAMPLING)}", end="", flush=True)
    return 0
