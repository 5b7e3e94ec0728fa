"""Building data files: what ``data_scripts/`` and people with their own or the public raw files need, never a
training run.

``audio``: speech to log-mel spectrograms in noise; ``avmnist``: MNIST reading, the PCA perturbation, the
uni-modal probe, checksummed output, the FSDD builder; ``emoji``: the offline emoji build; ``video`` and
``demo_video``: AVE / Kinetics-Sounds preparation; ``own``: own data (arrays, CSV, folders) to a checked ``.npz``.
May import :mod:`umelib.datasets` and the bottom modules only."""
