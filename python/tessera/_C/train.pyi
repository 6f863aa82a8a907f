"""
Keras-style fit / evaluate / predict
"""
from __future__ import annotations
import tessera._C
import tessera._C.data
import tessera._C.nn
import tessera._C.optim
import tessera._C.optim.lr_scheduler
import typing
__all__ = ['Accuracy', 'CSVLogger', 'ConfusionMatrix', 'EarlyStopping', 'LearningRateScheduler', 'Metric', 'ModelCheckpoint', 'TopKAccuracy', 'TrainContext', 'evaluate', 'fit', 'predict']
class Accuracy(Metric):
    @staticmethod
    def _pybind11_conduit_v1_(*args, **kwargs):
        ...
    def __init__(self, threshold: float = 0.0) -> None:
        ...
class CSVLogger(_Callback):
    @staticmethod
    def _pybind11_conduit_v1_(*args, **kwargs):
        ...
    def __init__(self, filename: str, separator: str = ',', append: bool = False) -> None:
        ...
class ConfusionMatrix(Metric):
    @staticmethod
    def _pybind11_conduit_v1_(*args, **kwargs):
        ...
    def __init__(self, num_classes: int) -> None:
        ...
    def __str__(self) -> str:
        ...
    def matrix(self) -> tessera._C.Tensor:
        ...
class EarlyStopping(_Callback):
    @staticmethod
    def _pybind11_conduit_v1_(*args, **kwargs):
        ...
    def __init__(self, monitor: str = 'val_loss', patience: int = 0, min_delta: float = 0.0, mode: str = 'auto', restore_best_weights: bool = False) -> None:
        ...
    @property
    def best(self) -> float:
        ...
    @property
    def best_epoch(self) -> int:
        ...
    @property
    def stopped_epoch(self) -> int:
        ...
class LearningRateScheduler(_Callback):
    @staticmethod
    def _pybind11_conduit_v1_(*args, **kwargs):
        ...
    @typing.overload
    def __init__(self, scheduler: tessera._C.optim.lr_scheduler.LRScheduler, per_batch: bool = False) -> None:
        ...
    @typing.overload
    def __init__(self, scheduler: tessera._C.optim.lr_scheduler.ReduceLROnPlateau, monitor: str = 'val_loss') -> None:
        ...
class Metric:
    @staticmethod
    def _pybind11_conduit_v1_(*args, **kwargs):
        ...
    def reset(self) -> None:
        ...
    def result(self) -> float:
        ...
    def update(self, output: tessera._C.Tensor, target: tessera._C.Tensor) -> None:
        ...
    @property
    def name(self) -> str:
        ...
class ModelCheckpoint(_Callback):
    @staticmethod
    def _pybind11_conduit_v1_(*args, **kwargs):
        ...
    def __init__(self, filepath: str, monitor: str = 'val_loss', save_best_only: bool = True, mode: str = 'auto') -> None:
        ...
    @property
    def saved(self) -> list[str]:
        ...
class TopKAccuracy(Metric):
    @staticmethod
    def _pybind11_conduit_v1_(*args, **kwargs):
        ...
    def __init__(self, k: int = 5) -> None:
        ...
class TrainContext:
    stop_training: bool
    @staticmethod
    def _pybind11_conduit_v1_(*args, **kwargs):
        ...
    @property
    def epochs(self) -> int:
        ...
    @property
    def history(self) -> dict:
        ...
    @property
    def model(self) -> tessera._C.nn.Module:
        ...
    @property
    def steps_per_epoch(self) -> int:
        ...
class _Callback:
    @staticmethod
    def _pybind11_conduit_v1_(*args, **kwargs):
        ...
def evaluate(model: tessera._C.nn.Module, data: tessera._C.data.DataLoader, *, loss: typing.Any = None, metrics: typing.Any = None) -> dict:
    ...
def fit(model: tessera._C.nn.Module, train_data: tessera._C.data.DataLoader, *, epochs: int = 1, optimizer: tessera._C.optim.Optimizer = None, loss: typing.Any = None, metrics: typing.Any = None, validation_data: tessera._C.data.DataLoader = None, callbacks: typing.Any = None, verbose: int = 1, clip_grad_norm: float = 0.0) -> dict:
    """
    Trains the model; returns the history as {key: [value per epoch]}.
    """
def predict(model: tessera._C.nn.Module, data: typing.Any, batch_size: int = 256) -> tessera._C.Tensor:
    ...
