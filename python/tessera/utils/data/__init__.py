"""tessera.utils.data (torch.utils.data): Dataset, TensorDataset, DataLoader.

The DataLoader is the C++ one: batches are built (and shuffled from `seed`) in C++, and a
Python Dataset's __getitem__ is called with the GIL taken for that call only. C++ datasets
(TensorDataset, datasets.MNIST / FashionMNIST with Tessera's transforms) never enter
Python per example. The transforms are also in tessera.transforms (torchvision's place).
"""
from ..._C.data import (  # noqa: F401
    DataLoader, TensorDataset, Normalize, RandomCrop, RandomHorizontalFlip, Compose, ToTensor,
    read_idx, write_idx, read_csv,
)


class Dataset:
    """A map-style dataset: subclass it with __len__ and __getitem__(i) -> (input, target),
    where input and target are tensors, NumPy arrays or numbers."""

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError
