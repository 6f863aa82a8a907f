"""CNN28 on Fashion-MNIST, Keras style: compile, fit with metrics, validation and
a callback written in Python, evaluate.

    python examples/python/fashion_mnist_keras_style.py [--epochs 5] [--seed 0]

Same model, data, optimizer and seeds as `tessera train`, and the same C++ fit loop, so
the final `test_accuracy:` line matches the CLI's.
"""
import argparse

import tessera
from tessera import nn, optim, train
from tessera.utils.data import DataLoader
from tessera.datasets import FashionMNIST
from tessera.transforms import Normalize, ToTensor


class PrintBest(train.Callback):
    """A callback written in Python: fit calls it after every epoch."""

    def __init__(self):
        self.best = 0.0

    def on_epoch_end(self, epoch, logs, ctx):
        self.best = max(self.best, logs["val_accuracy"])
        print(f"  epoch {epoch + 1}: best val_accuracy so far {self.best:.4f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    tessera.manual_seed(args.seed)
    model = tessera.models.cnn28()
    normalize = Normalize(0.2860, 0.3530)
    # ToTensor in the dataset makes the stored bytes floats in [0, 1], as the CLI's loader.
    train_data = DataLoader(FashionMNIST(train=True, transform=ToTensor()), batch_size=64,
                            shuffle=True, seed=args.seed, transform=normalize)
    test_data = DataLoader(FashionMNIST(train=False, transform=ToTensor()), batch_size=256,
                           transform=normalize)

    model.compile(optimizer=optim.Adam(model.parameters(), lr=args.lr),
                  loss=nn.CrossEntropyLoss(), metrics=["accuracy"])
    history = model.fit(train_data, epochs=args.epochs, validation_data=test_data,
                        callbacks=[PrintBest()])
    test = model.evaluate(test_data)
    print(f"epochs run: {len(history['loss'])}, last loss: {history['loss'][-1]:.4f}")
    print(f"test_loss: {test['loss']:.4f}")
    print(f"test_accuracy: {test['accuracy']:.4f}")


if __name__ == "__main__":
    main()
