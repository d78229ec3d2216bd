"""Optuna tuning on the validation stream (``isocl tune`` / ``isocl evaluate``)."""

from isocl.tuning._all import *  # noqa: F401,F403
from isocl.tuning._all import MAX_CONSECUTIVE_FAILURES  # noqa: F401
