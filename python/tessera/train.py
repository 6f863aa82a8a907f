"""tessera.train: Keras-style fit / evaluate / predict over the C++ loop.

    history = tessera.train.fit(model, train_loader, epochs=5,
                                optimizer=optim.Adam(model.parameters(), lr=1e-3),
                                loss="cross_entropy", metrics=["accuracy"],
                                validation_data=test_loader, callbacks=[MyCallback()])

`loss` is a name ("cross_entropy", "mse_loss", ...; runs without Python) or any callable
(output, target) -> loss tensor. Callbacks are built-in ones (EarlyStopping,
ModelCheckpoint, CSVLogger, LearningRateScheduler) or Python objects with any of the
methods of Callback below. The model may be a Python nn.Module subclass.
"""
from ._C import train as _T
from ._C.train import (  # noqa: F401
    Metric, Accuracy, TopKAccuracy, ConfusionMatrix, TrainContext, EarlyStopping,
    ModelCheckpoint, CSVLogger, LearningRateScheduler,
)


class Callback:
    """Override what you need. `ctx` has model, epochs, steps_per_epoch, history and a
    writable stop_training; on_epoch_end may add keys to `logs`."""

    def on_train_begin(self, ctx):
        pass

    def on_train_end(self, ctx):
        pass

    def on_epoch_begin(self, epoch, ctx):
        pass

    def on_epoch_end(self, epoch, logs, ctx):
        pass

    def on_batch_end(self, batch, logs, ctx):
        pass


def _loss_arg(loss):
    # The common losses by name run in C++ without taking the GIL per batch.
    from .nn import functional as F, CrossEntropyLoss, MSELoss
    if loss is F.cross_entropy:
        return "cross_entropy"
    if loss is F.mse_loss:
        return "mse_loss"
    if isinstance(loss, CrossEntropyLoss) and loss.weight is None and loss.ignore_index == -100 \
            and loss.reduction == "mean" and loss.label_smoothing == 0.0:
        return "cross_entropy"
    if isinstance(loss, MSELoss) and loss.reduction == "mean":
        return "mse_loss"
    return loss


def fit(model, train_data, *, epochs=1, optimizer=None, loss=None, metrics=None,
        validation_data=None, callbacks=None, verbose=1, clip_grad_norm=0.0):
    """Trains `model`; returns the history {key: [one value per epoch]}."""
    return _T.fit(model, train_data, epochs=epochs, optimizer=optimizer, loss=_loss_arg(loss),
                  metrics=metrics, validation_data=validation_data, callbacks=callbacks,
                  verbose=verbose, clip_grad_norm=clip_grad_norm)


def evaluate(model, data, *, loss=None, metrics=None):
    """{"loss": mean loss, metric name: value} over `data`, in eval mode, without grad."""
    return _T.evaluate(model, data, loss=_loss_arg(loss), metrics=metrics)


def predict(model, data, batch_size=256):
    """The model's outputs over a DataLoader's inputs or a tensor's rows, concatenated."""
    return _T.predict(model, data, batch_size)


def _compile(self, optimizer, loss, metrics=None):
    """Keras' model.compile: remembers the optimizer, loss and metrics for fit/evaluate."""
    object.__setattr__(self, "_compiled", (optimizer, loss, metrics))
    return self


def _compiled(self):
    try:
        return object.__getattribute__(self, "_compiled")
    except AttributeError:
        raise RuntimeError("call model.compile(optimizer, loss, metrics) before fit/evaluate") from None


def _fit(self, train_data, *, epochs=1, validation_data=None, callbacks=None, verbose=1,
         clip_grad_norm=0.0):
    optimizer, loss, metrics = _compiled(self)
    return fit(self, train_data, epochs=epochs, optimizer=optimizer, loss=loss, metrics=metrics,
               validation_data=validation_data, callbacks=callbacks, verbose=verbose,
               clip_grad_norm=clip_grad_norm)


def _evaluate(self, data):
    _, loss, metrics = _compiled(self)
    return evaluate(self, data, loss=loss, metrics=metrics)


def _predict(self, data, batch_size=256):
    return predict(self, data, batch_size)


from ._C.nn import Module as _Module  # noqa: E402

_Module.compile = _compile
_Module.fit = _fit
_Module.evaluate = _evaluate
_Module.predict = _predict
