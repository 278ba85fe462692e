"""The examples' own code: the digits example prepares loadable data and a
model, and the metrics agree with scikit-learn's."""
import importlib.util
import os
import sys

import numpy as np
import pytest
import torch

from conftest import REPO

sys.path.insert(0, os.path.join(REPO, "examples", "byom"))
import tasks  # noqa: E402 (examples/byom)

from qfleet.byom import load_dataset  # noqa: E402


def test_auc_and_accuracy_match_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, size=200).astype(np.float32)
    scores = np.round(rng.standard_normal(200) + labels, 1)  # ties on purpose
    assert tasks.auc(scores, labels) == pytest.approx(metrics.roc_auc_score(labels, scores))
    out = torch.from_numpy(rng.standard_normal((50, 4)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, 4, size=50))
    assert tasks.metric("accuracy", out, y) == metrics.accuracy_score(y, out.argmax(1))
    with pytest.raises(ValueError, match="both classes"):
        tasks.auc([0.1, 0.2], [1, 1])


def test_digits_example_prepares_a_model_and_data(tmp_path):
    pytest.importorskip("sklearn")
    spec = importlib.util.spec_from_file_location(
        "digits_prepare", os.path.join(REPO, "examples/digits_mlp/prepare.py"))
    prepare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prepare)
    prepare.main(str(tmp_path))
    sizes = {}
    for split in ("train", "val", "test"):
        X, y = load_dataset(tmp_path / split)
        assert X.shape[1:] == (64,) and y.dtype == np.int64 and 0 <= X.min() <= X.max() <= 1
        sizes[split] = len(X)
    assert sum(sizes.values()) == 1797 and sizes["test"] == 1797 // 5
    model = torch.jit.load(str(tmp_path / "model.pt"))
    X, y = load_dataset(tmp_path / "val")
    assert model(torch.from_numpy(X)).shape == (len(X), 10)
    before = tasks.evaluate(model, tmp_path / "val", "accuracy")
    Xt, yt = tasks.load(tmp_path / "train")
    tasks.train(model, Xt, yt, "cross_entropy", 1, 16, 0.05, 0.9, 1)
    assert tasks.evaluate(model, tmp_path / "val", "accuracy") > max(0.5, before)
