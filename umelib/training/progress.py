"""Training progress: a tqdm bar on a terminal; elsewhere (a log file, a pipe, a notebook running the CLI) at
most one plain line per epoch, at most every :data:`LINE_EVERY_S` seconds, and one line when a fit ends; nothing
when disabled (``--quiet``)."""
from __future__ import annotations

import sys
import time
from typing import Any, TextIO

LINE_EVERY_S = 10.0  # a plain progress line at most this often (the last epoch's line always comes)


def on_terminal(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default stderr, where progress goes) is an interactive terminal."""
    s = stream or sys.stderr
    try:
        return bool(s.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """``update(n)`` per step, ``epoch(k, **values)`` after each epoch, ``close()`` at the end of a fit."""

    def __init__(self, total: int, desc: str, epochs: int, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.desc, self.epochs, self.enabled = desc, epochs, enabled
        self.stream = stream
        self.bar = None
        self.last: str | None = None
        self.shown: float | None = None
        if enabled and on_terminal(stream):
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, leave=False, file=stream)

    def update(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def epoch(self, k: int, **values: Any) -> None:
        """Epoch ``k`` (1-based) done, with its numbers (loss, val)."""
        if not self.enabled:
            return
        shown = {name: f"{v:.3f}" if name == "loss" else f"{v:.2f}" if isinstance(v, float) else v
                 for name, v in values.items()}
        if self.bar is not None:
            self.bar.set_postfix(**shown)
            return
        self.last = f"{self.desc}: epoch {k}/{self.epochs} " + " ".join(f"{n} {v}" for n, v in shown.items())
        now = time.monotonic()
        if self.shown is None or now - self.shown >= LINE_EVERY_S:
            self._line(self.last)
            self.shown, self.last = now, None

    def _line(self, text: str) -> None:
        print(text, file=self.stream or sys.stderr, flush=True)

    def close(self, summary: str = "") -> None:
        """End of a fit: close the bar, or write the last epoch's line if not yet written (with ``summary``)."""
        if self.bar is not None:
            self.bar.close()
        elif self.enabled and self.last:
            self._line(" ".join(x for x in (self.last, summary) if x))
            self.last = None
