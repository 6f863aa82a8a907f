"""
Reverse-mode automatic differentiation
"""
from __future__ import annotations
import tessera._C
import typing
__all__ = ['backward', 'bf16_supported', 'grad', 'gradcheck', 'gradgradcheck', 'is_autocast_enabled', 'is_grad_enabled', 'set_autocast_enabled', 'set_grad_enabled']
def bf16_supported() -> bool:
    ...
def backward(tensors: list[tessera._C.Tensor], grad_tensors: list[tessera._C.Tensor] | None = None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
    ...
def grad(outputs: list[tessera._C.Tensor], inputs: list[tessera._C.Tensor], grad_outputs: list[tessera._C.Tensor] | None = None, retain_graph: bool | None = None, create_graph: bool = False, allow_unused: bool = False) -> tuple:
    ...
def gradcheck(func: typing.Callable, inputs: list[tessera._C.Tensor], *, eps: float = 1e-06, atol: float = 1e-05, rtol: float = 0.001, raise_exception: bool = True) -> bool:
    """
    Finite differences against the vector-Jacobian product, in float64 (inputs must be f64).
    """
def gradgradcheck(func: typing.Callable, inputs: list[tessera._C.Tensor], *, eps: float = 1e-06, atol: float = 1e-05, rtol: float = 0.001, raise_exception: bool = True) -> bool:
    ...
def is_autocast_enabled() -> bool:
    ...
def is_grad_enabled() -> bool:
    ...
def set_autocast_enabled(enabled: bool) -> None:
    ...
def set_grad_enabled(mode: bool) -> None:
    ...
