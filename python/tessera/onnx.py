"""tessera.onnx: ONNX import and export from Python (docs/python.md "ONNX"; the C++ side
and the operator table: docs/onnx.md).

    model = tessera.onnx.load("resnet18.onnx")        # any ONNX file, opsets 7 to 18
    y = model(x)                                       # eager, node by node through the op table
    fast = model.compile()                             # graph mode: one graph per input shape
    tessera.onnx.export(net, (x,), "net.onnx",         # torch.onnx.export's signature
                        input_names=["x"], dynamic_axes={"x": {0: "batch"}})

Import gives a :class:`Model` whose initializers are ordinary tensors: ``parameters()`` are
the handles the model reads, so ``requires_grad_()`` on them and an optimizer over them
fine-tune it (import with ``trainable=True`` so that a compiled model folds nothing computed
from them). Export traces any function of tensors, ``nn.Module`` (Python subclasses
included: their ``forward`` runs in Python while the C++ tracer records the ops it
dispatches) or compiled function on example inputs and writes the graph, before any
optimization pass, as ONNX.

Errors carry the C++ message: a corrupt file or a bad option is a ``tessera.InvalidArgumentError``
(a ``ValueError``), an operator Tessera lacks a ``tessera.NotImplementedError``, a missing
file a ``FileNotFoundError``; arguments of the wrong type are ``TypeError``.
"""
import builtins as _builtins
import enum as _enum
import errno as _errno
import os as _os
from collections import OrderedDict as _OrderedDict

import numpy as _np

from . import _C
from ._C import Tensor as _Tensor
from ._C.onnx import ValueInfo  # noqa: F401  (re-exported: Model.inputs' items)

_onnx = _C.onnx

__all__ = ["Model", "ValueInfo", "TrainingMode", "load", "import_model", "export", "export_to_bytes",
           "inspect", "load_tensor", "supported_ops"]

_DEFAULT_OPSET = 17


def _type_name(x):
    return type(x).__name__


def _as_tensor(x, what):
    """A Tensor as is; a NumPy array without a copy where its layout allows; a number or
    nested list as a new tensor. Anything else is a TypeError naming `what`."""
    if isinstance(x, _Tensor):
        return x
    if isinstance(x, (_np.ndarray, _np.generic, _builtins.int, _builtins.float, _builtins.bool, list, tuple)):
        from . import as_tensor
        return as_tensor(x)
    raise TypeError(f"{what}: expected a tessera.Tensor, a NumPy array or a number, got {_type_name(x)}")


def _fspath_or_none(f):
    if isinstance(f, (str, _os.PathLike)):
        return _os.fspath(f)
    return None


def _check_exists(path, who):
    # onnx.load and open() raise FileNotFoundError; the C++ IOError (an OSError too) would
    # say the same, but not as the subclass scripts catch.
    if not _os.path.exists(path):
        raise FileNotFoundError(_errno.ENOENT, f"{who}: no such file", path)


# ---------------------------------------------------------------------------- import


class Model:
    """An imported ONNX model. Call it like a module (``model(x)``: one output as a tensor,
    several as a tuple) or ``run(*inputs)`` (always a list); ``compile()`` for graph mode.

    ``inputs``/``outputs`` describe the graph as the file declares it (``ValueInfo``: name,
    dtype, shape with a symbolic dim as its name or None). ``parameters()`` are the
    floating-point initializers (what an optimizer trains), ``state_dict()`` every
    initializer by name; both hold the tensors the model reads, not copies.
    """

    def __init__(self, model):
        if not isinstance(model, _onnx.Model):
            raise TypeError("tessera.onnx.Model wraps an imported model; use tessera.onnx.load(path)")
        self._model = model
        # Built once, so that the same name gives the same Python object on every call.
        self._initializers = _OrderedDict(model.initializers())

    # -- what the file declares
    @property
    def inputs(self):
        """The graph inputs run() takes, in order (initializer-fed inputs excluded)."""
        return list(self._model.inputs)

    @property
    def outputs(self):
        return list(self._model.outputs)

    @property
    def input_names(self):
        return [v.name for v in self._model.inputs]

    @property
    def output_names(self):
        return [v.name for v in self._model.outputs]

    @property
    def opset(self):
        """The opset of the default (ai.onnx) domain."""
        return self._model.opset

    @property
    def ir_version(self):
        return self._model.ir_version

    @property
    def producer(self):
        return self._model.producer

    @property
    def num_nodes(self):
        return self._model.num_nodes

    def op_histogram(self):
        """Nodes per operator, e.g. {"Conv": 20, "Relu": 17}, sorted by operator name."""
        return self._model.op_histogram()

    # -- the tensors it holds
    def state_dict(self):
        """Every initializer, name -> tensor, in file order (the model's own tensors)."""
        return _OrderedDict(self._initializers)

    def named_parameters(self):
        """(name, tensor) for the floating-point initializers: the trainable weights."""
        return ((k, t) for k, t in self._initializers.items() if t.is_floating_point())

    def parameters(self):
        """The floating-point initializers, as ``optim.SGD(model.parameters(), lr=...)`` takes
        them. Integer initializers (shapes, indices) are in state_dict() only."""
        return [t for _, t in self.named_parameters()]

    def requires_grad_(self, requires_grad=True):
        """Sets requires_grad on every parameter (to fine-tune; import with trainable=True)."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self):
        for p in self.parameters():
            if p.grad is not None:
                p.grad = None

    # -- running it
    def _feed(self, inputs):
        if len(inputs) == 1 and isinstance(inputs[0], dict):
            # By name, as onnxruntime's input_feed.
            feed = inputs[0]
            names = self.input_names
            unknown = [k for k in feed if k not in names]
            if unknown:
                raise ValueError(f"tessera.onnx.Model: no input named {unknown[0]!r}; the inputs are {names}")
            missing = [n for n in names if n not in feed]
            if missing:
                raise ValueError(f"tessera.onnx.Model: input {missing[0]!r} is missing from the feed")
            return [_as_tensor(feed[n], f"input '{n}'") for n in names]
        names = self.input_names
        return [_as_tensor(x, f"input '{names[i]}'" if i < len(names) else f"input {i}")
                for i, x in enumerate(inputs)]

    def run(self, *inputs):
        """Runs the model eagerly on tensors or NumPy arrays (or one dict name -> value) in
        the order of ``inputs``; returns the outputs as a list, in file order. Differentiable
        where the ops are (a fine-tuned model's loss backpropagates to parameters())."""
        return self._model.run(self._feed(inputs))

    def __call__(self, *inputs):
        outs = self.run(*inputs)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def compile(self, *, optimize=True, freeze=False, dynamic_batch=False, dump=False, max_cached_graphs=8):
        """A tessera.CompiledFunction of run() (see tessera.compile): traced per input
        signature and optimized; takes tensors, returns one tensor or a tuple."""
        return self._model.compile(optimize=optimize, freeze=freeze, dynamic_batch=dynamic_batch, dump=dump,
                                   max_cached_graphs=max_cached_graphs)

    def __repr__(self):
        def sig(vs):
            return ", ".join(f"{v.name}: {v.dtype!r} {list(v.shape) if v.shape is not None else '?'}" for v in vs)
        return (f"tessera.onnx.Model(opset={self.opset}, nodes={self.num_nodes}, inputs=[{sig(self.inputs)}], "
                f"outputs=[{sig(self.outputs)}])")


def load(f, *, trainable=False, base_dir=None, max_tensor_bytes=None, max_file_bytes=None):
    """Imports an ONNX model: `f` is a path, the file's bytes, or a binary file object.

    trainable: the float initializers may change (fine-tuning), so a compiled model folds
    nothing computed from them. base_dir: where external data lives when `f` is bytes or a
    file object (a path's own folder otherwise; None refuses external data then).
    max_tensor_bytes / max_file_bytes bound memory on untrusted files (4 GiB each).
    """
    if not isinstance(trainable, _builtins.bool):
        raise TypeError(f"load: trainable must be a bool, got {_type_name(trainable)}")
    limits = dict(trainable=trainable, max_tensor_bytes=max_tensor_bytes, max_file_bytes=max_file_bytes)
    path = _fspath_or_none(f)
    if path is not None:
        _check_exists(path, "tessera.onnx.load")
        return Model(_onnx.import_model(path, **limits))
    if isinstance(f, (bytearray, memoryview)):
        f = bytes(f)
    elif not isinstance(f, bytes):
        if not hasattr(f, "read"):
            raise TypeError(f"load: expected a path, bytes or a binary file object, got {_type_name(f)}")
        f = f.read()
        if not isinstance(f, bytes):
            raise TypeError(f"load: the file object returned {_type_name(f)}, expected bytes (open it with 'rb')")
    base = "" if base_dir is None else _os.fspath(base_dir)
    return Model(_onnx.import_model_from_bytes(f, base, **limits))


def import_model(path, trainable=False, **options):
    """load() under the C++ API's name: import_model(path, trainable=False)."""
    return load(path, trainable=trainable, **options)


# ---------------------------------------------------------------------------- export


class TrainingMode(_enum.IntEnum):
    """torch.onnx.TrainingMode: the mode a Module is exported in. EVAL (the default) puts it
    in eval mode for the export and restores its mode after; PRESERVE exports it as it is;
    TRAINING in training mode (a layer that updates statistics or draws random numbers in
    training mode, batch norm or dropout, cannot be exported so)."""
    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


def _flatten_outputs(out, who):
    if isinstance(out, _Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        flat = []
        for o in out:
            flat.extend(_flatten_outputs(o, who))
        return flat
    raise TypeError(f"{who}: the model must return a Tensor or a (nested) tuple/list of Tensors; got "
                    f"{_type_name(out)}")


def _names(names, what):
    if names is None:
        return []
    if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple)):
        raise TypeError(f"export: {what} must be a list of str, got {_type_name(names)}")
    for n in names:
        if not isinstance(n, str):
            raise TypeError(f"export: {what} must be a list of str; one is a {_type_name(n)}")
    return list(names)


def _dynamic_axes(axes):
    """torch.onnx's forms: {name: {dim: "dim_name"}} or {name: [dim, ...]} (named as torch
    names them, "<name>_dynamic_axes_<k>")."""
    if axes is None:
        return {}
    if not isinstance(axes, dict):
        raise TypeError(f"export: dynamic_axes must be a dict name -> {{dim: name}} or [dims], got {_type_name(axes)}")
    out = {}
    for name, dims in axes.items():
        if not isinstance(name, str):
            raise TypeError(f"export: dynamic_axes keys must be input or output names (str), got {_type_name(name)}")
        if isinstance(dims, dict):
            items = list(dims.items())
        elif isinstance(dims, (list, tuple)):
            items = [(d, f"{name}_dynamic_axes_{k + 1}") for k, d in enumerate(dims)]
        else:
            raise TypeError(f"export: dynamic_axes['{name}'] must be a dict {{dim: name}} or a list of dims, got "
                            f"{_type_name(dims)}")
        one = {}
        for d, param in items:
            if isinstance(d, _builtins.bool) or not isinstance(d, (_builtins.int, _np.integer)):
                raise TypeError(f"export: dynamic_axes['{name}']: a dim must be an int, got {_type_name(d)}")
            if not isinstance(param, str):
                raise TypeError(f"export: dynamic_axes['{name}'][{d}]: the dim's name must be a str, got "
                                f"{_type_name(param)}")
            one[_builtins.int(d)] = param
        out[name] = one
    return out


def _export_bytes(model, args, *, export_params, verbose, training, input_names, output_names, opset_version,
                  do_constant_folding, dynamic_axes, dynamic_batch):
    from .nn import Module
    if export_params is not True:
        raise ValueError("export: export_params=False is not supported: Tessera writes the weights as initializers")
    if opset_version is None:
        opset_version = _DEFAULT_OPSET
    if isinstance(opset_version, _builtins.bool) or not isinstance(opset_version, (_builtins.int, _np.integer)):
        raise TypeError(f"export: opset_version must be an int, got {_type_name(opset_version)}")
    if not isinstance(dynamic_batch, _builtins.bool):
        raise TypeError(f"export: dynamic_batch must be a bool, got {_type_name(dynamic_batch)}")
    if not isinstance(do_constant_folding, _builtins.bool):
        raise TypeError(f"export: do_constant_folding must be a bool, got {_type_name(do_constant_folding)}")
    try:
        training = TrainingMode(training)
    except ValueError:
        raise ValueError(f"export: training must be a tessera.onnx.TrainingMode, got {training!r}") from None
    # args: one tensor, or a tuple/list of them (torch.onnx's trailing kwargs dict is not taken).
    if isinstance(args, (tuple, list)):
        if args and isinstance(args[-1], dict):
            raise TypeError("export: keyword arguments (a dict at the end of args) are not supported; pass the "
                            "inputs positionally")
        inputs = [_as_tensor(a, f"export: args[{i}]") for i, a in enumerate(args)]
    else:
        inputs = [_as_tensor(args, "export: args")]
    options = dict(opset=_builtins.int(opset_version), input_names=_names(input_names, "input_names"),
                   output_names=_names(output_names, "output_names"), dynamic_axes=_dynamic_axes(dynamic_axes),
                   dynamic_batch=dynamic_batch)

    if isinstance(model, _C.CompiledFunction):
        data, summary = _onnx.export_compiled_to_bytes(model, inputs, **options)
    elif isinstance(model, Module) or callable(model):
        is_module = isinstance(model, Module)
        who = f"export of {_type_name(model)}" if is_module else "export"

        def traced(xs):
            return _flatten_outputs(model(*xs), who)

        if is_module:
            # Initializers named after the state_dict's keys (parameters and buffers).
            options["tensor_names"] = list(model.named_parameters()) + list(model.named_buffers())
            was_training = model.training
            if training != TrainingMode.PRESERVE:
                model.train(training == TrainingMode.TRAINING)
            try:
                data, summary = _onnx.export_function_to_bytes(traced, inputs, **options)
            finally:
                if model.training != was_training:
                    model.train(was_training)
        else:
            data, summary = _onnx.export_function_to_bytes(traced, inputs, **options)
    else:
        raise TypeError(f"export: expected an nn.Module, a function of tensors or a tessera.CompiledFunction, "
                        f"got {_type_name(model)}")
    if verbose:
        hist = ", ".join(f"{k}: {v}" for k, v in summary["op_histogram"].items())
        print(f"tessera.onnx.export: opset {summary['opset']}, {summary['num_nodes']} nodes, "
              f"{summary['num_initializers']} initializers ({hist})")
    return data, summary


def export(model, args, f, *, export_params=True, verbose=False, training=TrainingMode.EVAL, input_names=None,
           output_names=None, opset_version=None, do_constant_folding=True, dynamic_axes=None, dynamic_batch=False):
    """Exports `model` to ONNX, as torch.onnx.export.

    model: an nn.Module (built-in or a Python subclass; initializers named after its
    state_dict keys; exported in eval mode unless `training` says otherwise), a function of
    tensors returning a tensor or a tuple/list of them, or a tessera.CompiledFunction
    (its function traced afresh, before the passes). args: the example inputs, one tensor
    or a tuple of them (NumPy arrays are taken too). f: a path or a binary file object
    (io.BytesIO). opset_version: 11 to 21 (default 17). input_names / output_names: lists
    of str (default input_0, ..., output_0, ...). dynamic_axes: {name: {dim: "dim_name"}}
    or {name: [dims]}: those dims are symbolic in the file. dynamic_batch: shorthand for
    dim 0 of every input and output as "batch". do_constant_folding is accepted for
    torch's scripts and changes nothing (the traced graph is written as it is).

    Returns a summary dict: opset, num_nodes, num_initializers, op_histogram.
    """
    path = _fspath_or_none(f)
    if path is None and not hasattr(f, "write"):
        raise TypeError(f"export: f must be a path or a binary file object, got {_type_name(f)}")
    data, summary = _export_bytes(model, args, export_params=export_params, verbose=verbose, training=training,
                                  input_names=input_names, output_names=output_names, opset_version=opset_version,
                                  do_constant_folding=do_constant_folding, dynamic_axes=dynamic_axes,
                                  dynamic_batch=dynamic_batch)
    if path is not None:
        with open(path, "wb") as out:
            out.write(data)
    else:
        f.write(data)
    return summary


def export_to_bytes(model, args, *, export_params=True, verbose=False, training=TrainingMode.EVAL, input_names=None,
                    output_names=None, opset_version=None, do_constant_folding=True, dynamic_axes=None,
                    dynamic_batch=False):
    """export() returning the ModelProto's bytes instead of writing them
    (onnx.load_model_from_string and onnxruntime.InferenceSession take them)."""
    data, _ = _export_bytes(model, args, export_params=export_params, verbose=verbose, training=training,
                            input_names=input_names, output_names=output_names, opset_version=opset_version,
                            do_constant_folding=do_constant_folding, dynamic_axes=dynamic_axes,
                            dynamic_batch=dynamic_batch)
    return data


# ---------------------------------------------------------------------------- files


def inspect(path):
    """What `tessera inspect` prints about an ONNX (or safetensors) file, as a dict: format,
    details, inputs, outputs (ValueInfo), op_histogram, num_nodes, parameters (elements of
    the float initializers), parameter_bytes, tensors (safetensors), flops (None when
    unknown, flops_note says why)."""
    p = _fspath_or_none(path)
    if p is None:
        raise TypeError(f"inspect: expected a path, got {_type_name(path)}")
    _check_exists(p, "tessera.onnx.inspect")
    return _onnx.inspect_file(p)


def load_tensor(path):
    """A serialized TensorProto (.pb, as in ONNX's test data) as a Tensor."""
    p = _fspath_or_none(path)
    if p is None:
        raise TypeError(f"load_tensor: expected a path, got {_type_name(path)}")
    _check_exists(p, "tessera.onnx.load_tensor")
    return _onnx.load_tensor(p)


def supported_ops():
    """The operator table (docs/onnx.md): for each ONNX operator, the first opset imported,
    what it becomes, and whether (and from which Tessera ops) export writes it."""
    return _onnx.supported_ops()
