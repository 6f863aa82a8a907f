"""CNN28 on Fashion-MNIST written as a PyTorch training loop, run by Tessera.

    python examples/python/fashion_mnist_pytorch_style.py [--epochs 5] [--seed 0]

The defaults are `tessera train`'s (5 epochs, Adam 1e-3, batch 64, seed 0, inputs
standardized with the train set's mean and std), with the same layers, shuffling and
dropout. The initial weights differ from the CLI's: this Net draws them top to bottom, as
PyTorch code does, while tessera.models.cnn28() builds its layers in the order the
compiler evaluates the arguments of one make_shared call (last to first with GCC). With
seed 0 and one epoch on 2 threads this script printed test_accuracy 0.8881 and
`tessera train --epochs 1` 0.8869; the Keras-style example, which uses cnn28(), follows
the CLI exactly.
"""
import argparse

import tessera as torch  # the port: this import, and the data lines below
import tessera.nn as nn
import tessera.nn.functional as F
from tessera.utils.data import DataLoader, Normalize
from tessera.datasets import FashionMNIST


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.fc1 = nn.Linear(9216, 128)
        self.dropout2 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return self.fc2(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)  # initialization and dropout
    model = Net()
    normalize = Normalize(0.2860, 0.3530)  # the train set's pixel mean and std
    train_loader = DataLoader(FashionMNIST(train=True), batch_size=args.batch_size, shuffle=True,
                              seed=args.seed, transform=normalize)
    test_loader = DataLoader(FashionMNIST(train=False), batch_size=256, transform=normalize)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    for epoch in range(1, args.epochs + 1):
        model.train()
        total, count = 0.0, 0
        for data, target in train_loader:
            output = model(data)
            loss = F.cross_entropy(output, target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(target)
            count += len(target)
        print(f"epoch {epoch}: train loss {total / count:.4f}", flush=True)

    model.eval()
    correct, loss_sum, n = 0, 0.0, 0
    with torch.no_grad():
        for data, target in test_loader:
            output = model(data)
            loss_sum += F.cross_entropy(output, target, reduction="sum").item()
            correct += (output.argmax(1) == target).sum().item()
            n += len(target)
    print(f"test_loss: {loss_sum / n:.4f}")
    print(f"test_accuracy: {correct / n:.4f}")


if __name__ == "__main__":
    main()
