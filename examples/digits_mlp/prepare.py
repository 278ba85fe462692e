"""A small MLP on scikit-learn's bundled digits (8x8 images, 10 classes),
saved for qfleet: OUT/model.pt and OUT/{train,val,test}/{X,y}.npy."""
import os
import sys

import numpy as np
import torch
from sklearn.datasets import load_digits

import qfleet


class DigitsMlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(64, 64)
        self.fc2 = torch.nn.Linear(64, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def main(out):
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    order = np.random.default_rng(0).permutation(len(X))
    n_test, n_val = len(X) // 5, len(X) // 10
    splits = {"test": order[:n_test], "val": order[n_test:n_test + n_val],
              "train": order[n_test + n_val:]}
    for name, idx in splits.items():
        qfleet.save_dataset(X[idx], y[idx], os.path.join(out, name))
        print(f"{name}: {len(idx)} samples")
    torch.manual_seed(0)
    how = qfleet.save_model(DigitsMlp(), os.path.join(out, "model.pt"),
                            example_input=torch.from_numpy(X[:2]))
    print(f"model.pt written ({how})")


if __name__ == "__main__":
    main(sys.argv[1])
