"""Pieces the demo stages share: thread setup, a resumable checkpoint, the LR schedule, a progress line, and the
bundle's lm_head bits (build-demo-bundle converts with them, evaluate computes with them)."""
from __future__ import annotations

import math
import os
import sys
import time

import torch

# The demo bundle's text head (build-demo-bundle converts with it, evaluate --dtype int4 computes with it): 8 bits,
# because a batch-8 step of this small model is mostly lm_head, whose MatMulNBits cost grows almost row for row
# (export/int8.py; docs/step-profile.md). The bundle is built for the CPU EP, where MatMulInteger is fast.
LM_HEAD_BITS = 8


def setup_torch(threads: int | None) -> torch.device:
    """CPU threads and the device: CUDA when lent one. One torch thread by default: Debian's torch also calls
    libopenblas0-pthread, whose own threads already split the large products over the cores and spin while they
    wait, so a second OpenMP thread on the 2-core box makes a demo MLLM step 2.4x slower, not faster
    (bench/train_threads.py)."""
    torch.set_num_threads(threads or int(os.environ.get("UNITOK_THREADS", "1")))
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _minutes(text: str) -> float | None:
    """--minutes: a number; 0 means no budget."""
    return float(text) or None


_minutes.__name__ = "number of minutes"  # argparse names the type in its error message


def add_run_args(ap, out_help: str, batch: int, lr: float, steps: int = 1400, minutes: float | None = None) -> None:
    """The options both demo trainers take: run folder, length, batch, learning rate, time budget, threads."""
    ap.add_argument("--out", default="runs/demo", help=out_help)
    ap.add_argument("--steps", type=int, default=steps)
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--minutes", type=_minutes, default=minutes,
                    help=f"stop (checkpointed) after this much training time (default {minutes or 'none'}; 0: no "
                         "budget, only --steps); the learning rate decays over it")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default 1, or $UNITOK_THREADS; see bench/train_threads.py)")


def save_checkpoint(path: str, state: dict) -> None:
    """Atomic: a crash while writing never leaves a half checkpoint where --resume would find it."""
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str) -> dict | None:
    return torch.load(path, map_location="cpu") if os.path.isfile(path) else None


def resume(path: str, model: torch.nn.Module, opt: torch.optim.Optimizer, what: str,
           key: str = "model") -> tuple[int, float]:
    """Load a training checkpoint (module state under `key`) and the optimiser if there is one; returns
    (step, seconds trained)."""
    saved = load_checkpoint(path)
    if not saved:
        return 0, 0.0
    model.load_state_dict(saved[key])
    opt.load_state_dict(saved["opt"])
    print(f"resuming {what} training at step {saved['step']} ({saved['elapsed'] / 60:.1f} min done)", flush=True)
    return saved["step"], saved["elapsed"]


def lr_at(step: int, total: int, peak: float, warmup: int, time_frac: float = 0.0) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak. The decay follows whichever is further along, the
    steps or the wall-clock budget (time_frac), so a run cut short by --minutes still ends at a low LR."""
    if step < warmup:
        return peak * (step + 1) / warmup
    t = min(max((step - warmup) / max(total - warmup, 1), time_frac), 1.0)
    return peak * (0.1 + 0.45 * (1 + math.cos(math.pi * t)))


class StepProgress:
    """A progress line for training loops: step, running loss figures, steps/s, ETA.

    Redrawn in place on a terminal; one plain line every `every` seconds in a log file (nohup ... > log)."""

    def __init__(self, label: str, total: int, start: int = 0, every: float = 20.0):
        self.label, self.total, self.start_step, self.every = label, total, start, every
        self.t0 = self.last = time.monotonic()
        self.tty = sys.stderr.isatty()

    def update(self, step: int, metrics: dict[str, float], force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < (0.5 if self.tty else self.every):
            return
        self.last = now
        done = step - self.start_step
        rate = done / max(now - self.t0, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else 0.0
        frac = step / max(self.total, 1)
        bar = "#" * int(20 * frac) + "." * (20 - int(20 * frac))
        figures = " ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        line = (f"{self.label} [{bar}] {step}/{self.total} {rate:.2f} step/s "
                f"elapsed {(now - self.t0) / 60:.1f}m ETA {eta / 60:.1f}m | {figures}")
        sys.stderr.write(("\r" + line[:160].ljust(160)) if self.tty else line + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


class RunningMean:
    """Exponential moving averages of the logged figures, so a progress line is not one noisy batch."""

    def __init__(self, decay: float = 0.9):
        self.decay, self.values = decay, {}

    def add(self, **figures: float) -> dict[str, float]:
        for k, v in figures.items():
            self.values[k] = v if k not in self.values else self.decay * self.values[k] + (1 - self.decay) * v
        return dict(self.values)
