"""tessera.nn: layers and models (torch.nn).

The layers are the C++ ones (tessera/nn/layers.h) with PyTorch's constructors, so
``nn.Conv2d(1, 32, 3)`` and ``nn.Linear(9216, 128)`` build the same parameters, with the
same names and initialization, as PyTorch's. Subclass ``nn.Module`` in Python as in
PyTorch: assigning a Parameter or a Module to an attribute registers it.
"""
from .. import _C
from .._C.nn import (  # noqa: F401
    Module, Identity, Linear, Bilinear, Conv1d, Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d,
    AdaptiveAvgPool2d, BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm, Dropout, Embedding, ReLU,
    LeakyReLU, GELU, SiLU, Sigmoid, Tanh, Softmax, LogSoftmax, Flatten, Sequential, ModuleList,
    ModuleDict, MultiheadAttention, TransformerEncoderLayer, LSTM, GRU,
)
from .parameter import Parameter  # noqa: F401
from . import module as _module  # noqa: F401  (adds the Python half of Module)
from . import functional, init  # noqa: F401
from .loss import (  # noqa: F401
    CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, SmoothL1Loss, BCELoss, BCEWithLogitsLoss, KLDivLoss,
)
from . import utils  # noqa: F401
