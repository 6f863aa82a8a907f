"""tessera.nn.functional (torch.nn.functional)."""
from .._C.nn.functional import *  # noqa: F401,F403
from .._C.nn import functional as _F

__all__ = [n for n in dir(_F) if not n.startswith("_")]
