"""What reaches the terminal: isocl's own progress, warnings and errors.

Third-party warnings that are known to be harmless here are filtered one by
one (:data:`KNOWN_HARMLESS`: the category, the start of the message, the
module that warns, and why it is harmless); anything else still shows.
``--verbose`` lifts the filters and shows every warning once per location,
DeprecationWarnings included.

Every process that trains installs the same filters: the ``isocl`` command
(:func:`install` in ``isocl.cli.main``), the spawned workers of ``--jobs N``
and of ``isocl tune --jobs K``, and Ray tasks (they call :func:`install`
with the driver's ``verbose``). A worker imports Avalanche (and with it
qpsolvers and jaxopt, which warn on import) before its first task calls
:func:`install`, so :func:`install` also puts the filters in
``PYTHONWARNINGS`` (:func:`pythonwarnings`), which every interpreter started
from this one applies before it imports anything.

Errors are stored as plain text: :func:`plain_text` removes the ANSI colour
codes that Ray puts into the tracebacks it forwards.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass

__all__ = ["KNOWN_HARMLESS", "KnownWarning", "install", "is_verbose", "plain_text", "pythonwarnings"]

_ENV = "ISOCL_VERBOSE"  # inherited by worker processes that start from a fresh interpreter


@dataclass(frozen=True)
class KnownWarning:
    """One third-party warning filtered by name."""

    name: str
    category: type[Warning]
    message: str  # regex matched at the start of the message
    module: str  # regex matched at the start of the warning module's name
    why: str  # why it is harmless in isocl

    def install(self) -> None:
        warnings.filterwarnings("ignore", message=self.message, category=self.category, module=self.module)

    def matches(self, message: Warning | str, category: type[Warning], filename: str) -> bool:
        """Whether a warning about to be shown is this one (``filename``: where it was attributed)."""
        package = self.module.split("\\")[0].strip("^.")
        return (issubclass(category, self.category) and re.match(self.message, str(message)) is not None
                and f"{os.sep}{package}" in filename)


KNOWN_HARMLESS: tuple[KnownWarning, ...] = (
    KnownWarning(
        "avalanche-no-loggers", UserWarning, r"No loggers specified", r"avalanche\.",
        "Avalanche's EvaluationPlugin warns on an empty logger list; isocl records every metric itself and passes "
        "a do-nothing logger, this catches strategies that build their own evaluator"),
    KnownWarning(
        "avalanche-storage-policy-update", DeprecationWarning, r"Call to deprecated function update", r"avalanche\.",
        "Avalanche 0.6's own ReplayPlugin calls its storage policy's deprecated update(); removal is in 0.7"),
    KnownWarning(
        "si-numpy-array-wrap", DeprecationWarning, r"__array_wrap__ must accept context", r"avalanche\.",
        "numpy 2 on torch tensors in Avalanche's SynapticIntelligence (np.square of a tensor); the result is the same"),
    KnownWarning(
        "avalanche-non-tuple-index", UserWarning, r"Using a non-tuple sequence for multidimensional indexing",
        r"avalanche\.",
        "Avalanche's ParamData.expand indexes with a list of slices; torch <= 2.14 reads it as a tuple, as meant"),
    KnownWarning(
        "jaxopt-unmaintained", DeprecationWarning, r"JAXopt is no longer maintained", r"jaxopt",
        "imported by qpsolvers, which Avalanche's GEM imports; no isocl strategy solves a QP with it"),
    KnownWarning(
        "qpsolvers-no-solver", UserWarning, r"no QP solver found", r"qpsolvers",
        "Avalanche imports qpsolvers for GEM; isocl's A-GEM projects without a QP solver"),
)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")  # CSI sequences (colours) and 2-byte escapes


def plain_text(text: str | None) -> str | None:
    """``text`` without ANSI escape sequences (Ray colours the tracebacks of failed tasks)."""
    return None if text is None else _ANSI.sub("", str(text))


def pythonwarnings(existing: str = "") -> str:
    """``PYTHONWARNINGS`` with an ``ignore`` entry per :data:`KNOWN_HARMLESS` warning appended (its message's
    literal start and category; the ``-W`` syntax matches a module name only whole, so the module is left
    open), each entry once."""
    entries = [e for e in existing.split(",") if e]
    for known in KNOWN_HARMLESS:
        literal = re.sub(r"\\(.)", r"\1", known.message)
        if re.search(r"[][.*+?{}()|^$:,]", literal):  # not expressible in -W syntax: the in-process filter only
            continue
        entry = f"ignore:{literal}:{known.category.__name__}"
        if entry not in entries:
            entries.append(entry)
    return ",".join(entries)


def is_verbose() -> bool:
    """Whether this process (or the command that started it) asked for ``--verbose``."""
    return os.environ.get(_ENV, "") == "1"


def install(verbose: bool | None = None) -> None:
    """Filter :data:`KNOWN_HARMLESS` (or, ``verbose``, show every warning once per location).

    ``verbose=None`` follows the environment (worker processes). The choice is
    also put in the environment, so that processes started from this one
    (spawned workers, Ray's local workers) make the same.
    """
    if verbose is None:
        verbose = is_verbose()
    global _VERBOSE
    _VERBOSE = verbose
    os.environ[_ENV] = "1" if verbose else "0"
    if verbose:
        warnings.simplefilter("default")  # DeprecationWarnings of libraries too
        return
    for known in KNOWN_HARMLESS:
        known.install()
    os.environ["PYTHONWARNINGS"] = pythonwarnings(os.environ.get("PYTHONWARNINGS", ""))
    if not getattr(warnings.showwarning, "_isocl", False):
        warnings.showwarning = _quiet_showwarning(warnings.showwarning)


_VERBOSE = False


# Filters alone do not hold: Avalanche's @deprecated calls warnings.simplefilter("once", DeprecationWarning)
# before every warning it emits, which puts its filter before ours. The last step, showing, is ours.
def _quiet_showwarning(show):
    def showwarning(message, category, filename, lineno, file=None, line=None):
        if not _VERBOSE and any(k.matches(message, category, filename) for k in KNOWN_HARMLESS):
            return
        show(message, category, filename, lineno, file, line)

    showwarning._isocl = True  # type: ignore[attr-defined]
    return showwarning
