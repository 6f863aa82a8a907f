"""tessera.utils.data (torch.utils.data): Dataset, TensorDataset, DataLoader.

The DataLoader is the C++ one: batches are built (and shuffled from `seed`) in C++, and a
Python Dataset's __getitem__ is called with the GIL taken for that call only. C++ datasets
(TensorDataset, datasets.FashionMNIST) never enter Python per example.
"""
from ..._C.data import (  # noqa: F401
    DataLoader, TensorDataset, FashionMNIST, Normalize, RandomCrop, RandomHorizontalFlip, Compose,
    read_idx, write_idx, read_csv,
)


class Dataset:
    """A map-style dataset: subclass it with __len__ and __getitem__(i) -> (input, target),
    where input and target are tensors, NumPy arrays or numbers."""

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError
