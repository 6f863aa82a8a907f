import os

import pytest

# Few threads: the suite runs beside other builds on a small machine.
os.environ.setdefault("TESSERA_NUM_THREADS", "2")


def _torch():
    try:
        import torch  # Debian's python3-torch, through the venv's system site packages
        return torch
    except Exception:  # noqa: BLE001  (missing, or built for another NumPy)
        return None


@pytest.fixture(scope="session")
def torch():
    t = _torch()
    if t is None:
        pytest.skip("PyTorch is not importable (Debian's python3-torch)")
    return t
