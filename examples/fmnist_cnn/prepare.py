"""A small CNN on Fashion-MNIST (Debian's dataset-fashion-mnist IDX files),
saved for qfleet: OUT/model.pt and OUT/{train,val,test}/{X,y}.npy with
X of shape (N, 1, 28, 28) scaled to [0, 1]. TRAIN_LIMIT (default 12000)
training images keep the example to a few minutes on 2 cores."""
import gzip
import os
import struct
import sys

import numpy as np
import torch

import qfleet

DATA = os.environ.get("FMNIST_DIR", "/usr/share/datasets/fashion-mnist")


class FashionCnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 16, 3, padding=1)
        self.fc1 = torch.nn.Linear(16 * 7 * 7, 64)
        self.fc2 = torch.nn.Linear(64, 10)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def read_idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        data = f.read()
    magic, = struct.unpack_from(">I", data)
    ndim = magic & 0xFF
    dims = struct.unpack_from(f">{ndim}I", data, 4)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main(out):
    limit = int(os.environ.get("TRAIN_LIMIT", "12000"))
    X = read_idx("train-images-idx3-ubyte.gz").astype(np.float32)[:, None] / 255.0
    y = read_idx("train-labels-idx1-ubyte.gz").astype(np.int64)
    order = np.random.default_rng(0).permutation(len(X))
    val, train = order[:2000], order[2000:2000 + limit]
    Xt = read_idx("t10k-images-idx3-ubyte.gz").astype(np.float32)[:, None] / 255.0
    yt = read_idx("t10k-labels-idx1-ubyte.gz").astype(np.int64)
    for name, (a, b) in {"train": (X[train], y[train]), "val": (X[val], y[val]),
                         "test": (Xt, yt)}.items():
        qfleet.save_dataset(a, b, os.path.join(out, name))
        print(f"{name}: {len(a)} samples")
    torch.manual_seed(0)
    how = qfleet.save_model(FashionCnn(), os.path.join(out, "model.pt"),
                            example_input=torch.from_numpy(X[:2]))
    print(f"model.pt written ({how})")


if __name__ == "__main__":
    main(sys.argv[1])
