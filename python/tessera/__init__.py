"""Tessera from Python: the C++ framework's tensors, autograd, nn, optim, data and fit.

Names and signatures follow PyTorch where the concept is the same, so a script ports by
changing ``import torch`` to ``import tessera as torch`` and a few names (docs/python.md).
Everything runs in the C++ core (tessera._C); ops release the GIL while they run.
"""
import sys as _sys

from . import _C

# The extension's submodules (tessera._C.nn, ...) become importable by their dotted names.
for _sub in ("autograd", "nn", "nn.functional", "nn.init", "models", "optim",
             "optim.lr_scheduler", "data", "train", "io", "onnx"):
    _mod = _C
    for _part in _sub.split("."):
        _mod = getattr(_mod, _part, None)
    if _mod is not None:
        _sys.modules["tessera._C." + _sub] = _mod
del _sub, _mod, _part
from ._C import (  # noqa: F401  (re-exported)
    Tensor, Generator, dtype, Error, InvalidArgumentError, IOError, OutOfMemoryError,
    NotImplementedError, InternalError, manual_seed, default_generator, set_num_threads,
    get_num_threads, promote_types, can_cast, from_numpy, device, __version__,
)

# Every public op function of the C++ module (tessera.add, tessera.matmul, ...).
for _name in dir(_C):
    if not _name.startswith("_") and _name not in globals():
        _obj = getattr(_C, _name)
        if callable(_obj) and not isinstance(_obj, type):
            globals()[_name] = _obj
del _name, _obj

# ---- dtypes, with PyTorch's aliases ----
bool = dtype.bool  # noqa: A001  (torch.bool)
uint8 = dtype.uint8
int8 = dtype.int8
int32 = dtype.int32
int64 = dtype.int64
float16 = dtype.float16
bfloat16 = dtype.bfloat16
float32 = dtype.float32
float64 = dtype.float64
half = float16
float = float32  # noqa: A001
double = float64
long = int64
int = int32  # noqa: A001
import builtins as _builtins  # noqa: E402  (after the aliases that shadow builtins)

_default_dtype = float32


def get_default_dtype():
    return _default_dtype


def _dtype_or(dtype, default):
    if dtype is None:
        return default
    if not isinstance(dtype, _C.dtype):
        raise TypeError(f"dtype must be a tessera.dtype (e.g. tessera.float32), got {dtype!r}")
    return dtype


def _size(size):
    """zeros(2, 3) and zeros((2, 3)) / zeros([2, 3]) alike."""
    if len(size) == 1 and not isinstance(size[0], _builtins.int):
        return tuple(size[0])
    return size


def _finish(t, requires_grad):
    if requires_grad:
        t.requires_grad_(True)
    return t


def _check_device(device):
    if device is not None and str(device) != "cpu":
        raise ValueError(f"Tessera runs on the CPU only; device {device!r} is not available")


def tensor(data, *, dtype=None, device=None, requires_grad=False):
    """A new tensor with a copy of `data` (numbers, nested lists, arrays, tensors)."""
    _check_device(device)
    return _finish(_C._tensor(data, _dtype_or(dtype, None)), requires_grad)


def as_tensor(data, dtype=None, device=None):
    """`data` itself when it is a tensor of `dtype`; a view of a NumPy array when the dtype
    matches; otherwise a copy."""
    _check_device(device)
    import numpy as np
    if isinstance(data, Tensor):
        return data if dtype is None else data.to(dtype)
    if isinstance(data, np.ndarray):
        t = from_numpy(data) if _builtins.all(s >= 0 for s in data.strides) else tensor(data)
        return t if dtype is None else t.to(dtype)
    return tensor(data, dtype=dtype)


def empty(*size, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    return _finish(_C._empty(_size(size), _dtype_or(dtype, _default_dtype)), requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    return _finish(_C._zeros(_size(size), _dtype_or(dtype, _default_dtype)), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    return _finish(_C._ones(_size(size), _dtype_or(dtype, _default_dtype)), requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    if dtype is None:
        dtype = (bool if isinstance(fill_value, _builtins.bool)
                 else int64 if isinstance(fill_value, _builtins.int) else _default_dtype)
    return _finish(_C._full(tuple(size) if not isinstance(size, _builtins.int) else (size,),
                            fill_value, dtype), requires_grad)


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    return _finish(_C._rand(_size(size), _dtype_or(dtype, _default_dtype), generator), requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    return _finish(_C._randn(_size(size), _dtype_or(dtype, _default_dtype), generator), requires_grad)


def randint(low, high=None, size=None, *, generator=None, dtype=None, device=None):
    """randint(high, size) or randint(low, high, size), like PyTorch."""
    _check_device(device)
    if size is None:
        if high is None:
            raise TypeError("randint() missing the size argument")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    return _C._randint(low, high, tuple(size), _dtype_or(dtype, int64), generator)


def normal(mean, std, size, *, generator=None, dtype=None):
    return _C._normal(mean, std, tuple(size), _dtype_or(dtype, _default_dtype), generator)


def pow(input, exponent):  # noqa: A001
    """pow(tensor, tensor or number), or pow(number, tensor) as PyTorch allows."""
    if not isinstance(input, Tensor) and isinstance(exponent, Tensor):
        result = exponent.__rpow__(input)
        if result is NotImplemented:
            raise TypeError(f"pow: expected a number base, got {type(input).__name__}")
        return result
    return _C.pow(input, exponent)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    _check_device(device)
    if end is None:
        start, end = 0, start
    return _finish(_C._arange(start, end, step, _dtype_or(dtype, None)), requires_grad)


from . import autograd  # noqa: E402
from .autograd import no_grad, enable_grad, set_grad_enabled, is_grad_enabled  # noqa: E402,F401
from .autograd import autocast, is_autocast_enabled, bf16_supported  # noqa: E402,F401
from . import nn, optim, utils, train, datasets, transforms, cuda, backends, onnx  # noqa: E402,F401
from ._C import models  # noqa: E402,F401
from .serialization import save, load, save_file, load_file  # noqa: E402,F401

__all__ = [n for n in globals() if not n.startswith("_")]

_C.dtype.__repr__ = lambda self: "tessera." + self.name
_C.dtype.__str__ = _C.dtype.__repr__
