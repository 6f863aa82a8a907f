"""tessera.datasets (torchvision.datasets): datasets read from local files; nothing is
ever downloaded.

MNIST and FashionMNIST take torchvision's arguments. Example i is (image, label): the
image as stored, u8 [28, 28] (the pixels of torchvision's PIL image), through
`transform` (ToTensor() makes it f32 [1, 28, 28] in [0, 1]); the label an int64 0-d
tensor, through `target_transform`. The files (IDX, gzip'd or not) are looked for in
`root` and in root/MNIST/raw or root/FashionMNIST/raw (torchvision's layout); with no
root, MNIST reads $TESSERA_MNIST and FashionMNIST $TESSERA_FASHION_MNIST, then Debian's
dataset-fashion-mnist (/usr/share/datasets/fashion-mnist). `download=True` is accepted
and downloads nothing: missing files are an IOError that says where it looked.
"""
import os as _os

from . import _C

__all__ = ["MNIST", "FashionMNIST"]


def _root(root):
    if root is None:
        return ""
    if not isinstance(root, (str, _os.PathLike)):
        raise TypeError(f"root: expected a path (str or os.PathLike) or None, got {type(root).__name__}")
    return _os.fspath(root)


def _flag(value, name):
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__}")
    return value


class MNIST(_C.data.MNIST):
    """torchvision.datasets.MNIST: 60000 training / 10000 test handwritten digits."""

    _kind = "mnist"

    def __init__(self, root=None, train=True, transform=None, target_transform=None, download=False):
        super().__init__(_root(root), _flag(train, "train"), transform, target_transform,
                         _flag(download, "download"), kind=self._kind)
        self.root = root
        self.train = train
        self.transform = transform
        self.target_transform = target_transform

    def __repr__(self):
        return (f"Dataset {type(self).__name__}\n    Number of datapoints: {len(self)}\n"
                f"    Split: {'Train' if self.train else 'Test'}")


class FashionMNIST(MNIST):
    """torchvision.datasets.FashionMNIST: Zalando's 28x28 clothing images, 10 classes."""

    _kind = "fashion"
