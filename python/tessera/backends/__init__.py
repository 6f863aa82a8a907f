"""tessera.backends (torch.backends): the accelerator backends a PyTorch script may probe.
Tessera runs on the CPU, so each reports itself unavailable."""
from . import mps  # noqa: F401
