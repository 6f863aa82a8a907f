"""The Python half of nn.Module: attribute registration, __call__, state_dict, repr.

These functions are installed on the C++ class itself, so built-in layers and Python
subclasses share them: ``isinstance(nn.Linear(2, 3), nn.Module)`` holds.
"""
from collections import OrderedDict, namedtuple

from .. import _C
from .._C import Tensor
from .parameter import Parameter

Module = _C.nn.Module
_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])
_object_setattr = object.__setattr__
_cpp_named_parameters = Module.named_parameters
_cpp_parameters = Module.parameters


def _check_ready(self, name):
    if not Module._ready(self):
        raise AttributeError(
            f"cannot assign '{name}' before {type(self).__name__}.__init__() called "
            "super().__init__()")


def _setattr(self, name, value):
    if isinstance(value, (Parameter, Module)) or (
            isinstance(value, Tensor) and not name.startswith("_")):
        _check_ready(self, name)
    if isinstance(value, Parameter):
        found = self._lookup(name)
        if found is not None and found[0] == "parameter":
            self._set_slot("parameter", name, value)
        else:
            self.register_parameter(name, value)
        return
    if isinstance(value, Module):
        found = self._lookup(name)
        if found is not None and found[0] == "module":
            if found[1] is value:
                return
            raise AttributeError(
                f"{type(self).__name__}: submodule '{name}' is already set; replacing a "
                "submodule is not supported")
        self.add_module(name, value)
        # Also a plain attribute: forward() finds it without the registry lookup.
        _object_setattr(self, name, value)
        return
    if value is None or isinstance(value, Tensor):
        found = (self._lookup(name)
                 if not name.startswith("_") and Module._ready(self) else None)
        if found is not None and found[0] in ("parameter", "buffer"):
            self._set_slot(found[0], name, value)
            return
    _object_setattr(self, name, value)


def _getattr(self, name):
    # Only reached when normal lookup fails: parameters and buffers live in C++ slots.
    if name.startswith("__"):
        raise AttributeError(name)
    found = Module._lookup(self, name) if Module._ready(self) else None
    if found is None:
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
    return found[1]


def _delattr(self, name):
    found = self._lookup(name)
    if found is not None and found[0] in ("parameter", "buffer"):
        self._set_slot(found[0], name, None)
    else:
        object.__delattr__(self, name)


_own_forward = {}


def _call(self, *args, **kwargs):
    cls = type(self)
    own = _own_forward.get(cls)
    if own is None:
        # Layers whose Python forward has PyTorch's fuller signature and results (LSTM's
        # (output, (h, c)), attention's (output, weights)) bind it on their own class.
        own = _own_forward[cls] = "forward" in cls.__dict__ or not self._is_builtin()
    if not own and len(args) == 1 and not kwargs and isinstance(args[0], Tensor):
        return self._call(args[0])  # C++ operator(): forward and hooks, GIL released
    out = self.forward(*args, **kwargs)
    # Hooks of a module called from Python (C++ callers run the C++ copies instead).
    hooks = self.__dict__.get("_py_forward_hooks") if hasattr(self, "__dict__") else None
    if hooks:
        for hook in list(hooks.values()):
            hook(self, args, out)
    return out


def _named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
    return iter(_cpp_named_parameters(self, prefix, recurse))


def _parameters(self, recurse=True):
    return iter(_cpp_parameters(self, recurse))


def _state_dict(self, destination=None, prefix="", keep_vars=False):
    state = self._state_dict()  # an OrderedDict already, in PyTorch's key order
    if destination is None and not prefix:
        return state
    out = OrderedDict() if destination is None else destination
    for k, v in state.items():
        out[prefix + k] = v
    return out


def _load_state_dict(self, state_dict, strict=True, assign=False):
    items = []
    for k, v in state_dict.items():
        if not isinstance(v, Tensor):  # NumPy arrays, lists: PyTorch's load takes them too
            from .. import tensor
            v = tensor(v)
        items.append((k, v))
    missing, unexpected = self._load_state_dict(items, strict)
    return _IncompatibleKeys(missing, unexpected)


def _repr(self):
    if self._is_builtin():
        return self._repr()
    # A Python subclass: its class name, extra_repr, then each child indented.
    lines = []
    extra = self.extra_repr()
    for name, child in self.named_children():
        child_lines = repr(child).split("\n")
        lines.append(f"({name}): " + "\n  ".join(child_lines))
    head = type(self).__name__ + "(" + extra
    if not lines:
        return head + ")"
    return head + "\n  " + "\n  ".join(lines) + "\n)"


class _HookHandle:
    def __init__(self, module, hook_id):
        self._module, self.id = module, hook_id

    def remove(self):
        self._module.remove_forward_hook(self.id)
        hooks = self._module.__dict__.get("_py_forward_hooks")
        if hooks:
            hooks.pop(self.id, None)


_register_forward_hook = Module.register_forward_hook


def _register_hook(self, hook):
    """hook(module, inputs, output) after every forward. Registered in C++ (calls from C++
    containers and fit) and, for a module whose forward Python calls directly, in Python;
    each call runs it once."""
    hook_id = _register_forward_hook(self, hook)
    if "forward" in type(self).__dict__ or not self._is_builtin():
        self.__dict__.setdefault("_py_forward_hooks", {})[hook_id] = hook
    return _HookHandle(self, hook_id)


def _requires_grad_(self, requires_grad=True):
    for p in _cpp_parameters(self):
        p.requires_grad_(requires_grad)
    return self


Module.__setattr__ = _setattr
Module.__getattr__ = _getattr
Module.__delattr__ = _delattr
Module.__call__ = _call
Module.__repr__ = _repr
Module.named_parameters = _named_parameters
Module.parameters = _parameters
Module.state_dict = _state_dict
Module.load_state_dict = _load_state_dict
Module.register_forward_hook = _register_hook
Module.requires_grad_ = _requires_grad_
Module.__hash__ = object.__hash__
