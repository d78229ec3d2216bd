"""Progress phases: elapsed time redrawn on a terminal, and not into a log file."""

from __future__ import annotations

import io
import sys
import time

from isocl.bench import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _wait_in_phase(monkeypatch, stream, seconds: float, **kw) -> str:
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(progress, "REFRESH_S", 0.05)
    with progress.phase("loading", **kw):
        time.sleep(seconds)
    return stream.getvalue()


def test_a_long_phase_redraws_its_elapsed_time_on_a_terminal(monkeypatch):
    out = _wait_in_phase(monkeypatch, Terminal(), 0.6)
    assert out.count("loading") >= 5, out  # about 12 redraws at 0.05 s


def test_a_phase_written_to_a_file_is_not_redrawn(monkeypatch):
    out = _wait_in_phase(monkeypatch, io.StringIO(), 0.6)
    assert out.count("loading") <= 2, out  # opened and closed, nothing between


def test_a_counted_phase_in_a_file_still_shows_each_step(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    with progress.phase("figures", total=3) as step:
        for name in ("a", "b", "c"):
            step(name)
    assert "3/3" in stream.getvalue() or "2/3" in stream.getvalue(), stream.getvalue()


def test_a_disabled_phase_prints_nothing(monkeypatch):
    assert _wait_in_phase(monkeypatch, Terminal(), 0.2, enabled=False) == ""
