"""tessera.transforms (torchvision.transforms): per-example transforms, run in C++.

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    dataset = tessera.datasets.MNIST(root, train=True, transform=transform)

ToTensor turns an image array (u8 [H, W] or [H, W, C]) into f32 [C, H, W] in [0, 1];
Normalize standardizes per channel. Given to a dataset or to DataLoader(transform=...),
Tessera's transforms never enter Python per example; any Python callable works too.
"""
from ._C.data import (  # noqa: F401
    Compose, ToTensor, Normalize, RandomCrop, RandomHorizontalFlip,
)

__all__ = ["Compose", "ToTensor", "Normalize", "RandomCrop", "RandomHorizontalFlip"]
