"""tessera.autograd: backward, grad, gradcheck and the grad-mode switches.

Grad mode is per thread, as in PyTorch: no_grad() in one thread leaves others recording.
"""
import functools

from ._C import autograd as _A

backward = _A.backward
grad = _A.grad
gradcheck = _A.gradcheck
gradgradcheck = _A.gradgradcheck
is_grad_enabled = _A.is_grad_enabled


class _GradMode:
    """Base of no_grad / enable_grad / set_grad_enabled: a context manager that is also a
    decorator (the decorated function runs in the mode, whatever mode its caller has)."""

    _mode = None

    def __enter__(self):
        self._prev = _A.is_grad_enabled()
        _A.set_grad_enabled(self._mode)
        return self

    def __exit__(self, *exc):
        _A.set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = _A.is_grad_enabled()
            _A.set_grad_enabled(mode)
            try:
                return fn(*args, **kwargs)
            finally:
                _A.set_grad_enabled(prev)

        return wrapper


class no_grad(_GradMode):
    """Disables gradient recording: ``with tessera.no_grad():`` or ``@tessera.no_grad()``."""

    _mode = False


class enable_grad(_GradMode):
    """Re-enables recording inside a no_grad region."""

    _mode = True


class set_grad_enabled(_GradMode):
    """``set_grad_enabled(False)`` switches recording off right away (as PyTorch's does),
    and also works as a context manager that restores the previous mode on exit."""

    def __init__(self, mode):
        self._prev = _A.is_grad_enabled()
        self._mode = bool(mode)
        _A.set_grad_enabled(self._mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _A.set_grad_enabled(self._prev)
        return False


class autocast:
    """Mixed precision, as ``torch.autocast("cpu", dtype=torch.bfloat16)``: in its scope (this
    thread) the convolutions multiply in bfloat16 with float32 results; every other op, the
    weights and the optimizer stay float32 (docs/autocast.md). A context manager and a
    decorator. Where the CPU has no bfloat16 instructions (``bf16_supported()`` false) it
    changes nothing."""

    def __init__(self, device_type="cpu", dtype=None, enabled=True, cache_enabled=None):
        from . import bfloat16  # the package's dtype objects
        if device_type != "cpu":
            raise ValueError(f"autocast: device_type must be 'cpu', got {device_type!r}")
        if dtype is not None and dtype != bfloat16:
            raise ValueError(f"autocast: the CPU runs mixed precision in bfloat16, got {dtype}")
        if not isinstance(enabled, bool):
            raise TypeError(f"autocast: enabled must be a bool, got {type(enabled).__name__}")
        self._enabled = enabled

    def __enter__(self):
        self._prev = _A.is_autocast_enabled()
        _A.set_autocast_enabled(self._enabled)
        return self

    def __exit__(self, *exc):
        _A.set_autocast_enabled(self._prev)
        return False

    def __call__(self, fn):
        enabled = self._enabled

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = _A.is_autocast_enabled()
            _A.set_autocast_enabled(enabled)
            try:
                return fn(*args, **kwargs)
            finally:
                _A.set_autocast_enabled(prev)

        return wrapper


is_autocast_enabled = _A.is_autocast_enabled
bf16_supported = _A.bf16_supported

__all__ = ["backward", "grad", "gradcheck", "gradgradcheck", "no_grad", "enable_grad", "autocast",
           "is_autocast_enabled", "bf16_supported",
           "set_grad_enabled", "is_grad_enabled"]
