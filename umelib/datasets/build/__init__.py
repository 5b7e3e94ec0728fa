"""Building data files: what ``data_scripts/`` and people with the public raw files need, never a training run.

``audio``: speech to log-mel spectrograms in noise; ``avmnist``: MNIST reading, the PCA perturbation, the
uni-modal probe, checksummed output, the FSDD builder. May import :mod:`umelib.datasets` and the bottom
modules only."""
