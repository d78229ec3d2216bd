"""isocl's calibration runs beside the published figures they reproduce (docs/field-protocol.md).

Prints the Markdown table of :func:`isocl.analysis.calibration.calibration_table`: per calibration
benchmark, the final average accuracy over the seeds (mean, standard deviation, the 95% t-interval of the
mean), the published figure, whether it lies inside the interval, the mean forgetting (from the accuracy
matrix) and the unit-hours. A benchmark's seeds may come from several folders.

    python benchmarks/calibration_table.py results/reference/calibration/online_replay [more folders ...]
"""

from __future__ import annotations

import sys

from isocl.analysis.calibration import calibration_table

if __name__ == "__main__":
    print(calibration_table(*sys.argv[1:]))
