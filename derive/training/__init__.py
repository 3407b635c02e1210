"""Training over several steps: the optimizer registry, the exact run, its observations and its document."""
