"""Training. loop: a model-agnostic Accelerate loop (EMA, whole-state checkpoints, exact resume, CSV log);
data: the generator's self-reenactment pairs from the corpus; generator: its objective and run; commands: the
`prepare-data` and `train` CLI commands; step: one optimiser step of the paper's UniMotion model (tests)."""
