"""Training: the optimiser step shared by the tests and the (future) trainer. Training on real data is a
later issue; no trained checkpoint exists yet."""
