"""A one-line progress bar on stderr for long conversions: items and bytes done, throughput, ETA.

On a terminal the line is redrawn in place (at most 5 times a second); in a log file (not a TTY) a plain line is
printed every 10% or 30 s instead, so CI logs stay readable.
"""
from __future__ import annotations

import sys
import time


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def human_time(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    def __init__(self, label: str, total_bytes: int, total_items: int, unit: str = "tensors", stream=None,
                 counts_bytes: bool = True):
        """counts_bytes=False: the job has no byte size; total_bytes and update's nbytes count items too, and the
        line shows items per second."""
        self.label, self.unit, self.counts_bytes = label, unit, counts_bytes
        self.total_bytes, self.total_items = max(total_bytes, 1), total_items
        self.bytes = self.items = 0
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = self._last_draw = time.monotonic()
        self._last_decile = -1

    def update(self, nbytes: int, items: int = 1, note: str = "") -> None:
        self.bytes += nbytes
        self.items += items
        now = time.monotonic()
        decile = int(10 * self.bytes / self.total_bytes)
        if self.tty and now - self._last_draw >= 0.2:
            self.stream.write("\r" + self.line(now, note)[:150].ljust(150))
        elif not self.tty and (decile > self._last_decile or now - self._last_draw >= 30):
            self.stream.write(self.line(now, note) + "\n")
            self._last_decile = decile
        else:
            return
        self.stream.flush()
        self._last_draw = now

    def line(self, now: float, note: str = "") -> str:
        frac = min(self.bytes / self.total_bytes, 1.0)
        elapsed = now - self.start
        eta = elapsed * (1 - frac) / frac if frac > 0 else 0.0
        bar = "#" * int(24 * frac) + "." * (24 - int(24 * frac))
        rate = self.bytes / elapsed if elapsed > 0 else 0.0
        amount = (f"{human_bytes(self.bytes)}/{human_bytes(self.total_bytes)} {human_bytes(rate)}/s" if self.counts_bytes
                  else f"{rate:.1f} {self.unit}/s")
        return (f"{self.label} [{bar}] {100 * frac:5.1f}% {self.items}/{self.total_items} {self.unit} {amount} "
                f"elapsed {human_time(elapsed)} ETA {human_time(eta)} {note}").rstrip()

    def close(self) -> None:
        if not self.tty and self._last_decile == 10:
            return  # the complete line is already in the log
        now = time.monotonic()
        self.stream.write(("\r" if self.tty else "") + self.line(now).ljust(150 if self.tty else 0) + "\n")
        self.stream.flush()
