"""Every public function and Tensor method called with wrong arguments raises a Python
exception (TypeError, ValueError, IndexError, ...), never crashes the interpreter."""
import pytest

import tessera as ts

BAD = [(), (None,), ("x",), ([1, "a"],), (ts.ones(2), None), (ts.ones(2), "x"),
       (ts.ones(2), 2 ** 70), (ts.ones(2, dtype=ts.int64), -5), (ts.ones(0), ts.ones(0)),
       (ts.ones(2, 3), ts.ones(4, 5), ts.ones(1))]
SKIP = {"manual_seed", "set_num_threads", "default_generator", "get_num_threads"}


def public_functions():
    for name in sorted(dir(ts._C)):
        obj = getattr(ts._C, name)
        if not name.startswith("_") and callable(obj) and not isinstance(obj, type) and name not in SKIP:
            yield name, obj


@pytest.mark.parametrize("name,fn", list(public_functions()))
def test_module_function_bad_arguments(name, fn):
    for args in BAD:
        try:
            fn(*args)
        except (TypeError, ValueError, IndexError, RuntimeError, OverflowError, MemoryError,
                NotImplementedError, KeyError):
            pass


METHODS = sorted(n for n in dir(ts.Tensor) if not n.startswith("__") and callable(getattr(ts.Tensor, n)))


@pytest.mark.parametrize("name", METHODS)
def test_tensor_method_bad_arguments(name):
    for self_ in (ts.ones(2, 3), ts.ones(0), ts.tensor(3), ts.tensor([True, False])):
        method = getattr(self_, name)
        for args in BAD[1:]:
            try:
                method(*args)
            except (TypeError, ValueError, IndexError, RuntimeError, OverflowError, MemoryError,
                    NotImplementedError, KeyError):
                pass


LAYERS = sorted(n for n, c in vars(ts.nn).items()
                if isinstance(c, type) and issubclass(c, ts.nn.Module) and c is not ts.nn.Module)


@pytest.mark.parametrize("name", LAYERS)
def test_layer_constructors_and_calls_with_bad_arguments(name):
    cls = getattr(ts.nn, name)
    for args in [(None,), ("x",), (-1,), (0, 0), (2 ** 70,), (3, -2), (1.5, 2)]:
        try:
            cls(*args)
        except (TypeError, ValueError, RuntimeError, OverflowError, MemoryError):
            pass
    try:
        layer = cls(4, 4) if name not in ("Identity", "ReLU", "Sigmoid", "Tanh", "SiLU", "Flatten",
                                          "Sequential", "ModuleList", "ModuleDict") else cls()
    except (TypeError, ValueError):
        return
    for x in [ts.ones(3), ts.ones(2, 4, dtype=ts.int64), ts.ones(0, 4), "x", None]:
        try:
            layer(x)
        except (TypeError, ValueError, RuntimeError, IndexError, NotImplementedError):
            pass
