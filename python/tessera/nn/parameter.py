from .._C import Tensor


class Parameter(Tensor):
    """A tensor that a Module registers as a parameter when assigned to an attribute.

    ``Parameter(t)`` shares t's memory (no copy) and requires grad by default. Tensors
    handed back by ``module.parameters()`` are plain Tensors over the same memory.
    """

    def __init__(self, data=None, requires_grad=True):
        from .. import empty
        super().__init__(empty(0) if data is None else data)
        self.requires_grad_(requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
