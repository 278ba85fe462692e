"""What the examples share: data loading, the losses and metrics qfleet's
campaign config names (cross_entropy / mse / bce; accuracy / mse / auc),
evaluation and the local training loop (SGD with momentum, shuffled
mini-batches), so the central baseline trains as a device does."""
import numpy as np
import torch

from qfleet.byom import load_dataset

LOSSES = {
    "cross_entropy": lambda out, y: torch.nn.functional.cross_entropy(out, y),
    "mse": lambda out, y: torch.nn.functional.mse_loss(out.reshape(y.shape), y),
    "bce": lambda out, y: torch.nn.functional.binary_cross_entropy_with_logits(
        out.reshape(y.shape), y),
}


def load(directory):
    X, y = load_dataset(directory)
    return torch.from_numpy(X), torch.from_numpy(y)


def predict(module, X, batch_size=256):
    module.eval()
    with torch.no_grad():
        return torch.cat([module(X[i:i + batch_size]) for i in range(0, len(X), batch_size)])


def auc(scores, labels):
    """Area under the ROC curve by ranks (ties get their mean rank)."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels) > 0.5
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos, neg = labels.sum(), (~labels).sum()
    if pos == 0 or neg == 0:
        raise ValueError("AUC needs both classes in the evaluation data")
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


def metric(name, out, y):
    if name == "accuracy":
        return float((out.argmax(dim=1) == y).double().mean())
    if name == "mse":
        return float(((out.reshape(y.shape).double() - y.double()) ** 2).mean())
    if name == "auc":
        return auc(out.reshape(-1).numpy(), y.reshape(-1).numpy())
    raise ValueError(f"unknown metric {name!r} (accuracy, mse, auc)")


def evaluate(module, directory, metric_name):
    X, y = load(directory)
    return metric(metric_name, predict(module, X), y)


def train(module, X, y, loss, epochs, batch_size, lr, momentum, seed):
    """`epochs` passes of SGD (momentum) over shuffled mini-batches."""
    loss_fn = LOSSES[loss]
    opt = torch.optim.SGD(module.parameters(), lr=lr, momentum=momentum)
    gen = torch.Generator().manual_seed(seed)
    module.train()
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=gen)
        for i in range(0, len(X), batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad()
            loss_fn(module(X[idx]), y[idx]).backward()
            opt.step()
