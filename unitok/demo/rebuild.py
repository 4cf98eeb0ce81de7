"""Rebuild the demo model's weights in one command, resumable, within the 150-minute budget of the 2-core CPU.

    python3 -m unitok rebuild-demo --out runs/demo

Stages (each one of the toolkit's own commands, its output in --out/logs/<stage>.log):
  tokenizer   train-tokenizer: the UniTok tokenizer (codes, decoder, CLIP side)
  mllm        train-mllm: the MLLM on the tokenizer's codes
  readout     train-tokenizer --decoder-only --readout-weight: the decoder and the CLIP image head on fixed codes
  clip        train-tokenizer --clip-only: the CLIP side's text tower
readout and clip change nothing the MLLM reads (the MLLM copies post_quant_proj when it starts, and the codes
stay), so they run beside the MLLM, on the core it leaves: they start once the MLLM has written its first
checkpoint, which is after its copy. The wall clock is then tokenizer + mllm (28 + 120 minutes by default),
where running the four stages one after another took 172.

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

# models/demo's recipe (its model card lists the same commands); minutes are wall-clock budgets.
TOKENIZER = ["--minutes", "28", "--edge-weight", "16"]
MLLM = ["--minutes", "120"]
# Beside the MLLM a stage gets about two thirds of a core, so the read-out's 22 minutes alone become 30.
READOUT = ["--decoder-only", "--batch", "16", "--lr", "1e-3", "--minutes", "30", "--edge-weight", "16",
           "--readout-weight", "4"]
CLIP = ["--clip-only", "--steps", "800", "--batch", "64", "--lr", "5e-4", "--minutes", "4"]

# models/demo's image sampling (chosen on train-split prompts, docs/demo-training.md).
SAMPLING = {"cfg_scale": 1.5, "temperature": 0.6, "top_k": 0, "top_p": 1.0}
SAMPLING_FLAGS = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in SAMPLING.items())
MLLM_CHECKPOINT = "mllm_train.pt"  # train_mllm.STATE_FILE: written after the copy of post_quant_proj


def command(out: str, name: str, args: list[str]) -> list[str]:
    """The argv of one of the toolkit's commands on run folder `out`."""
    return [sys.executable, "-m", "unitok", name, "--out", out, *args]


class Rebuild:
    """The stages' processes, their markers and a record of the wall clock (--out/rebuild.json)."""

    def __init__(self, out: str, stages: dict[str, list[str]]):
        self.out = out
        self.stages = {name: (argv, os.path.join(out, "logs", f"{name}.log"),
                              os.path.join(out, "stages", f"{name}.done")) for name, argv in stages.items()}
        os.makedirs(os.path.join(out, "logs"), exist_ok=True)
        os.makedirs(os.path.join(out, "stages"), exist_ok=True)
        self.record_path = os.path.join(out, "rebuild.json")
        self.record = json.load(open(self.record_path)) if os.path.isfile(self.record_path) else {"sessions": []}
        self.record["sessions"].append({"started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                                        "stages": {}})
        self.t0 = time.monotonic()

    def done(self, name: str) -> bool:
        return os.path.isfile(self.stages[name][2])

    def start(self, name: str) -> subprocess.Popen:
        argv, log, _ = self.stages[name]
        print(f"[{self._clock()}] {name}: {shlex.join(argv)}  (log: {log})", flush=True)
        with open(log, "a") as f:
            return subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT)

    def finish(self, name: str, proc: subprocess.Popen, started: float) -> None:
        """Waits for `proc`; marks the stage done, or raises with its log's tail."""
        code = proc.wait()
        argv, log, marker = self.stages[name]
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

    def run(self, name: str) -> None:
        if self.done(name):
            print(f"{name}: done before ({self.stages[name][2]})", flush=True)
            return
        started = time.monotonic()
        self.finish(name, self.start(name), started)

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


def rebuild(out: str, stages: dict[str, list[str]], poll: float = 5.0) -> dict:
    """Runs the stages (name -> argv: tokenizer, mllm, readout, clip): the tokenizer, then the MLLM with readout and
    clip beside it, one after the other. Returns the wall-clock record."""
    r = Rebuild(out, stages)
    try:
        r.run("tokenizer")
        mllm = None if r.done("mllm") else (r.start("mllm"), time.monotonic())
        try:
            # The side stages start after the MLLM's first checkpoint (its copy of post_quant_proj is taken).
            checkpoint = os.path.join(out, MLLM_CHECKPOINT)
            while mllm and not os.path.isfile(checkpoint) and mllm[0].poll() is None:
                time.sleep(poll)
            if mllm and mllm[0].poll() not in (None, 0):
                r.finish("mllm", *mllm)  # raises with its log
            r.run("readout")
            r.run("clip")
        except BaseException:
            if mllm and mllm[0].poll() is None:  # leave nothing running: its checkpoint resumes it
                mllm[0].terminate()
                mllm[0].wait()
            raise
        if mllm:
            r.finish("mllm", *mllm)
    finally:
        r.close()
    return r.record


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m unitok rebuild-demo", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/demo", help="run folder (created; re-running continues it)")
    for name, default in (("tokenizer", TOKENIZER), ("mllm", MLLM), ("readout", READOUT), ("clip", CLIP)):
        ap.add_argument(f"--{name}-args", default=shlex.join(default),
                        help=f"options of the {name} stage (default: %(default)s)")
    args = ap.parse_args(argv)
    stages = {"tokenizer": command(args.out, "train-tokenizer", shlex.split(args.tokenizer_args)),
              "mllm": command(args.out, "train-mllm", shlex.split(args.mllm_args)),
              "readout": command(args.out, "train-tokenizer", shlex.split(args.readout_args)),
              "clip": command(args.out, "train-tokenizer", shlex.split(args.clip_args))}
    try:
        record = rebuild(args.out, stages)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"rebuilt in {record['total_minutes']:.1f} wall-clock minutes (over {len(record['sessions'])} "
          f"session(s)); next:\n"
          f"  python3 -m unitok evaluate --run {args.out} --dtype int4 {SAMPLING_FLAGS} --out {args.out}/eval_int4.json\n"
          f"  python3 -m unitok build-demo-bundle --run {args.out} --eval {args.out}/eval_int4.json "
          f"--image-sampling '{json.dumps(SAMPLING)}'", flush=True)
    return 0
