"""tessera.datasets: the datasets Tessera reads from local files (nothing is downloaded)."""
from ._C.data import FashionMNIST  # noqa: F401
