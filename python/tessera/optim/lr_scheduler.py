"""tessera.optim.lr_scheduler (torch.optim.lr_scheduler)."""
from .._C.optim.lr_scheduler import (  # noqa: F401
    LRScheduler, StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR,
    CosineAnnealingWarmRestarts, LinearLR, OneCycleLR, ReduceLROnPlateau,
)
