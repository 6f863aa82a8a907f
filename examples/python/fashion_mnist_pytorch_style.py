"""CNN28 on Fashion-MNIST written as a PyTorch training loop, run by Tessera.

    python examples/python/fashion_mnist_pytorch_style.py [--epochs 5] [--seed 0]

The defaults are `tessera train`'s (5 epochs, Adam 1e-3, batch 64, seed 0, inputs
standardized with the train set's mean and std), with the same layers, initial weights,
shuffling and dropout, so the run ends with the CLI's test_accuracy: this Net creates its
layers with weights top to bottom (conv1, conv2, fc1, fc2), the order in which
tessera.models.cnn28() draws them, after the same manual_seed.
"""
import argparse

import tessera as torch  # the port: the tessera imports, and DataLoader's seed=
import tessera.nn as nn
import tessera.nn.functional as F
from tessera import datasets, transforms
from tessera.utils.data import DataLoader


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
    # The train set's pixel mean and std. No root: Debian's dataset-fashion-mnist.
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.2860,), (0.3530,))])
    train_loader = DataLoader(datasets.FashionMNIST(train=True, transform=transform),
                              batch_size=args.batch_size, shuffle=True, seed=args.seed)
    test_loader = DataLoader(datasets.FashionMNIST(train=False, transform=transform), batch_size=256)
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
