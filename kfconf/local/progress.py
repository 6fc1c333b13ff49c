"""Progress of a local run on stderr: a live block of steps on a terminal, plain lines otherwise.

Live:   one line per step with its state, elapsed time and current detail (trial 3/4 · epoch 2/5 …),
        redrawn a few times a second; notes and warnings scroll above the block.
Plain:  one line per event, prefixed with the elapsed time: `[  12.3s] tune      trial 2/4 done val_auc=0.87`.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from typing import TextIO

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
MARKS = {
    "pending": "·", "waiting": "·", "running": "", "done": "✓", "cached": "↺", "failed": "✗",
    "skipped": "-", "blocked": "⊘", "serving": "●", "stopped": "■",
}


@dataclass
class _Step:
    name: str
    ref: str
    state: str = "pending"
    started: float | None = None
    ended: float | None = None
    detail: str = ""


class Progress:
    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        if live is None:
            live = bool(getattr(self.stream, "isatty", lambda: False)()) and os.environ.get("TERM") != "dumb"
        self.live = live
        self.t0 = time.time()
        self._steps: dict[str, _Step] = {}
        self._lock = threading.RLock()
        self._drawn = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._width = 20

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self, header: str, steps: list[tuple[str, str]]) -> None:
        with self._lock:
            for name, ref in steps:
                self._steps[name] = _Step(name, ref)
            self._width = max([len(n) for n, _ in steps] + [4])
        self.message(header)
        if self.live:
            self._thread = threading.Thread(target=self._loop, name="kfconf-progress", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        with self._lock:
            if self.live:
                self._redraw(final=True)

    # -- events ------------------------------------------------------------------------------------
    def state(self, name: str, state: str, note: str = "") -> None:
        with self._lock:
            st = self._steps.setdefault(name, _Step(name, name))
            now = time.time()
            if state == "running" and st.started is None:
                st.started = now
            if state in ("done", "cached", "failed", "skipped", "blocked", "serving", "stopped"):
                st.ended = now
            st.state = state
            st.detail = note
            if not self.live and state not in ("waiting", "pending"):
                took = f" ({self._fmt(st.ended - st.started)})" if st.ended and st.started else ""
                label = {"running": "started", "cached": "cached (inputs unchanged)"}.get(state, state)
                text = f"{label}{took}" + (f" · {note}" if note else "")
                if state == "running":
                    text = f"started {st.ref}" + (f" · {note}" if note else "")
                self._line(name, text)

    def detail(self, name: str, text: str, echo: bool = False) -> None:
        """Current activity of a running step; printed as a line in plain mode only when `echo`."""
        with self._lock:
            st = self._steps.get(name)
            if st is not None:
                st.detail = text
            if not self.live and echo:
                self._line(name, text)

    def event(self, name: str, text: str) -> None:
        """Something worth a line in both modes (a finished trial, a note)."""
        with self._lock:
            if self.live:
                self._above(f"{name.ljust(self._width)}  {text}")
            else:
                self._line(name, text)

    def message(self, text: str) -> None:
        with self._lock:
            if self.live:
                self._above(text)
            else:
                self.stream.write(f"[{self._fmt(time.time() - self.t0, 7)}] {text}\n")
                self.stream.flush()

    # -- rendering ---------------------------------------------------------------------------------
    @staticmethod
    def _fmt(seconds: float, pad: int = 0) -> str:
        text = f"{seconds:.1f}s" if seconds < 120 else f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
        return text.rjust(pad)

    def _line(self, name: str, text: str) -> None:
        self.stream.write(f"[{self._fmt(time.time() - self.t0, 7)}] {name.ljust(self._width)}  {text}\n")
        self.stream.flush()

    def _above(self, text: str) -> None:
        self._clear()
        self.stream.write(text + "\n")
        self._redraw()

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def _redraw(self, final: bool = False) -> None:
        self._clear()
        cols = shutil.get_terminal_size((100, 20)).columns
        now = time.time()
        spin = SPINNER[int((now - self.t0) * 8) % len(SPINNER)]
        lines = []
        for st in self._steps.values():
            mark = spin if st.state == "running" else MARKS.get(st.state, "?")
            took = ""
            if st.started is not None:
                took = self._fmt((st.ended or now) - st.started)
            state = "" if st.state in ("running", "done") else st.state
            text = f" {mark} {st.name.ljust(self._width)}  {took.rjust(6)}  {state}"
            if st.detail:
                text += ("  " if state else "") + st.detail
            lines.append(text[: max(10, cols - 1)])
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()
        self._drawn = 0 if final else len(lines)

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            with self._lock:
                self._redraw()
