"""tessera.backends.mps (torch.backends.mps): Apple's Metal backend, never available here."""


def is_available():
    """False: Tessera has no MPS backend."""
    return False


def is_built():
    """False: Tessera is not built with MPS."""
    return False
