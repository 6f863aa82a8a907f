"""tessera.optim: optimizers (torch.optim) with PyTorch's update rules and keywords."""
from .._C.optim import (  # noqa: F401
    Optimizer, SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, clip_grad_norm_, clip_grad_value_,
)
from . import lr_scheduler  # noqa: F401
