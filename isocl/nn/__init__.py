"""The network mathematics: isotropic activations and layers, models, the exact
structural moves (doc §1-5), the compressed inference form, optimiser-state
transport and the invariance checkers.  Depends on torch and Avalanche's
model classes only, never on the benchmark harness (``isocl.bench``) or the
analysis (``isocl.analysis``, ``isocl.tuning``)."""
