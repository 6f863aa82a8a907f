"""Saving and loading tensors as safetensors files (no pickle, readable by any
safetensors reader).

    tessera.save(model.state_dict(), "model.safetensors")
    model.load_state_dict(tessera.load("model.safetensors"))
"""
from collections import OrderedDict, namedtuple

from ._C import Tensor
from ._C import io as _io


def save_file(tensors, filename, metadata=None):
    """safetensors' save_file: a dict name -> tensor, optional str -> str metadata."""
    items = []
    for k, v in tensors.items():
        if not isinstance(v, Tensor):
            raise TypeError(f"save_file: '{k}' is a {type(v).__name__}, expected a tessera.Tensor")
        items.append((k, v))
    _io.save_safetensors(str(filename), items, dict(metadata or {}))


def load_file(filename):
    """safetensors' load_file: an OrderedDict name -> tensor, in the file's order."""
    tensors, _ = _io.load_safetensors(str(filename))
    return tensors


def load_metadata(filename):
    return dict(_io.load_safetensors(str(filename))[1])


def save(obj, f):
    """Saves a state_dict (a dict of tensors) or one tensor (under the key "tensor")."""
    if isinstance(obj, Tensor):
        obj = {"tensor": obj}
    if not isinstance(obj, dict):
        raise TypeError("tessera.save: expected a dict of tensors (a state_dict) or a tensor, got "
                        f"{type(obj).__name__}; Tessera writes safetensors, not pickle")
    save_file(obj, f)


def load(f, map_location=None, weights_only=True):
    """Loads what save() wrote: the dict of tensors (or the tensor saved alone)."""
    d = load_file(f)
    if list(d.keys()) == ["tensor"]:
        return d["tensor"]
    return d


Checkpoint = namedtuple("Checkpoint", ["model", "optimizer", "scheduler", "metadata"])


def save_checkpoint(path, model_state, optimizer_state=None, metadata=None, scheduler_state=None):
    """One safetensors file with the model's, optimizer's and scheduler's state_dicts (each
    a mapping of str -> tensor, as their state_dict() methods return) under the prefixes
    "model.", "optim." and "sched.", and str -> str metadata."""
    _io.save_checkpoint(str(path), model_state, optimizer_state or {}, dict(metadata or {}),
                        scheduler_state or {})


def load_checkpoint(path):
    """What save_checkpoint wrote (or a C++ checkpoint, or a BackupAndRestore backup), as a
    Checkpoint(model, optimizer, scheduler, metadata): three OrderedDicts ready for the
    load_state_dict methods, and the metadata dict."""
    return Checkpoint(*_io.load_checkpoint(str(path)))
load_npy = _io.load_npy
save_npy = _io.save_npy
