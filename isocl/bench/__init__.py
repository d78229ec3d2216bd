"""The benchmark harness: CIFAR-10 data, split scenarios, benchmark files,
the strategy registry and context, Avalanche plugins for the neuroplastic
moves, the runner and its results.  Built on ``isocl.nn``; knows nothing of
the analysis or tuning layers above it."""
