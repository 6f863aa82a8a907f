"""tessera.cuda (torch.cuda): Tessera runs on the CPU, so no CUDA device is ever available.

PyTorch scripts ask `torch.cuda.is_available()` to pick a device; the answer here sends
them down their CPU path unchanged.
"""


def is_available():
    """False: Tessera has no CUDA backend."""
    return False


def device_count():
    """0: no CUDA devices."""
    return 0
