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


__all__ = ["backward", "grad", "gradcheck", "gradgradcheck", "no_grad", "enable_grad",
           "set_grad_enabled", "is_grad_enabled"]
