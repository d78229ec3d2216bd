"""isocl: continual-learning benchmarks for isotropic neural networks.

The mathematics lives in ``shared/docs/isotropic-networks.md`` (cited as
"doc §N" in docstrings).
"""

__version__ = "0.1.0"
