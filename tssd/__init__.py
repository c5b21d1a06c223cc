"""TSSD: temporal-spatial self-distillation for spiking neural networks (arXiv 2406.07862).

The importable core: neurons (one spec, three backends), models, losses, methods, data and the
one-run trainer. It knows nothing of the reproduction harness in ``bench/``.
"""

__version__ = "0.1.0"
