"""Exports small PyTorch models to ONNX with torch.onnx.export, with inputs and PyTorch's
outputs as .npy, for tests/onnx/torch_import_test.cc (Tessera imports each model and must
match PyTorch). Usage: torch_export_ref.py OUT_DIR. Run with Debian's /usr/bin/python3
(python3-torch, python3-torchvision)."""
import os
import sys

import numpy as np
import torch

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)


def export(name, model, inputs, opset, dynamic_batch=True, batch_dim=0, extra_inputs=None):
    model.eval()
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    names = [f"in{i}" for i in range(len(inputs))]
    dyn = {n: {batch_dim: "batch"} for n in names} if dynamic_batch else None
    # Exported with gradients enabled: PyTorch's fused inference fast paths (the encoder
    # layer's) have no ONNX form and are only taken without them.
    torch.onnx.export(model, tuple(inputs), os.path.join(d, "model.onnx"), input_names=names,
                      output_names=["out"], dynamic_axes=dyn, opset_version=opset)
    with torch.no_grad():
        for k, case in enumerate([inputs] + ([extra_inputs] if extra_inputs else [])):
            y = model(*case)
            if isinstance(y, tuple):
                y = y[0]
            for i, x in enumerate(case):
                np.save(os.path.join(d, f"case{k}_in{i}.npy"), x.numpy())
            np.save(os.path.join(d, f"case{k}_out.npy"), y.numpy())
    # The gradient of sum(out * r) with respect to the first input (r fixed and random):
    # checks that an imported model differentiates like the original.
    x = inputs[0].clone().requires_grad_(True)
    y = model(x, *inputs[1:])
    if isinstance(y, tuple):
        y = y[0]
    r = torch.randn(y.shape)
    (y * r).sum().backward()
    np.save(os.path.join(d, "grad_r.npy"), r.numpy())
    np.save(os.path.join(d, "grad_x.npy"), x.grad.numpy())


class Cnn(torch.nn.Module):
    """A CNN for 28x28 images: conv, batch norm, ReLU, max and average pooling, linear."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
            torch.nn.AvgPool2d(2))
        self.head = torch.nn.Linear(16 * 7 * 7, 10)

    def forward(self, x):
        return torch.log_softmax(self.head(torch.flatten(self.features(x), 1)), dim=1)


def randomize_bn(model):
    # Non-trivial running statistics, so batch norm's inference form is really exercised.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return model


export("cnn", randomize_bn(Cnn()), [torch.randn(2, 1, 28, 28)], 13,
       extra_inputs=[torch.randn(3, 1, 28, 28)])

import torchvision  # noqa: E402

export("resnet18", randomize_bn(torchvision.models.resnet18(num_classes=10)),
       [torch.randn(1, 3, 64, 64)], 13, extra_inputs=[torch.randn(2, 3, 64, 64)])


class Encoder(torch.nn.Module):
    """A transformer encoder layer (self-attention, layer norm, GELU feed-forward)."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, dropout=0.0,
                                                      activation="gelu", batch_first=True)

    def forward(self, x):
        return self.layer(x)


export("encoder", Encoder(), [torch.randn(2, 5, 32)], 14, extra_inputs=[torch.randn(3, 5, 32)])


class Lstm(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(8, 16, num_layers=1, batch_first=True, bidirectional=True)
        self.head = torch.nn.Linear(32, 4)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.head(y)


export("lstm", Lstm(), [torch.randn(2, 6, 8)], 13, extra_inputs=[torch.randn(3, 6, 8)])
print("exported to", out)
