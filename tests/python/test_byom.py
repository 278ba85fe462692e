import numpy as np
import pytest
import torch

from qfleet.byom import load_dataset, save_dataset, save_model
from qfleet.errors import FormatError


class Mlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 8)
        self.drop = torch.nn.Dropout(0.5)
        self.fc2 = torch.nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(self.drop(torch.relu(self.fc1(x))))


class Untypable(torch.nn.Module):
    """torch.jit.script rejects it (a Python-only call); tracing works."""
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x) * float(np.float32(2.0))


def test_save_model_scripts_and_keeps_the_mode(tmp_path):
    net = Mlp().train()
    path = tmp_path / "m.pt"
    assert save_model(net, str(path), torch.zeros(2, 4)) == "script"
    loaded = torch.jit.load(str(path))
    assert loaded.training and net.training
    loaded.eval(), net.eval()
    x = torch.randn(3, 4)
    assert torch.equal(loaded(x), net(x))
    assert [n for n, _ in loaded.named_parameters()] == [n for n, _ in net.named_parameters()]


def test_save_model_falls_back_to_trace(tmp_path):
    net = Untypable()
    with pytest.raises(FormatError, match="no example_input"):
        save_model(net, str(tmp_path / "a.pt"))
    assert save_model(net, str(tmp_path / "b.pt"), torch.ones(2, 4)) == "trace"
    x = torch.randn(5, 4)
    assert torch.allclose(torch.jit.load(str(tmp_path / "b.pt"))(x), net(x))


def test_a_forward_that_fails_on_the_example_is_refused(tmp_path):
    with pytest.raises(FormatError, match=r"forward fails on an input of shape \[2, 5\]"):
        save_model(Mlp(), str(tmp_path / "c.pt"), torch.zeros(2, 5))
    assert not (tmp_path / "c.pt").exists()


def test_save_model_needs_a_module(tmp_path):
    with pytest.raises(FormatError, match="torch.nn.Module"):
        save_model(lambda x: x, str(tmp_path / "d.pt"))


def test_save_dataset_writes_what_qfleet_reads(tmp_path):
    X = np.arange(12, dtype=np.float64).reshape(3, 2, 2)
    save_dataset(X, [0, 2, 1], tmp_path / "cls")
    x = np.load(tmp_path / "cls" / "X.npy")
    y = np.load(tmp_path / "cls" / "y.npy")
    assert x.dtype == np.float32 and x.shape == (3, 2, 2) and y.dtype == np.int64
    raw = (tmp_path / "cls" / "X.npy").read_bytes()
    assert raw[:6] == b"\x93NUMPY" and b"'descr': '<f4'" in raw and b"'fortran_order': False" in raw
    assert b"'descr': '<i8'" in (tmp_path / "cls" / "y.npy").read_bytes()
    save_dataset(X.reshape(3, 4), np.array([0.5, 1.5, -2.0]), tmp_path / "reg")
    Xb, yb = load_dataset(tmp_path / "reg")
    assert yb.dtype == np.float32 and yb.tolist() == [0.5, 1.5, -2.0]
    save_dataset(X.reshape(3, 4), [1, 0, 1], tmp_path / "bce", task="regression")
    assert load_dataset(tmp_path / "bce")[1].dtype == np.float32


@pytest.mark.parametrize("X,y,task,message", [
    (np.zeros((3, 2)), [0, 1], None, "X has 3 samples but y has shape \\[2\\]"),
    (np.array([[0.0, np.nan], [1, 2]]), [0, 1], None, "NaN or Inf .* first at index 0"),
    (np.array([[1e39, 0], [1, 2]]), [0, 1], None, "NaN or Inf"),
    (np.zeros((2, 2)), [0.0, np.inf], None, "y has NaN or Inf"),
    (np.float32(1), [0], None, "X is a scalar"),
    (np.zeros((0, 2)), [], None, "no samples"),
    (np.zeros((2, 2)), [-1, 0], None, "labels must be >= 0"),
    (np.zeros((2, 2)), [0.5, 1], "classification", "whole numbers"),
    (np.zeros((2, 2)), [0, 1], "ranking", "task 'ranking'"),
    (np.array([["a", "b"]]), [0], None, "real numbers")])
def test_save_dataset_refuses_bad_data_and_writes_nothing(tmp_path, X, y, task, message):
    with pytest.raises(FormatError, match=message):
        save_dataset(X, y, tmp_path / "d", task=task)
    assert not (tmp_path / "d").exists()


def test_load_dataset_checks_dtypes(tmp_path):
    (tmp_path / "d").mkdir()
    np.save(tmp_path / "d" / "X.npy", np.zeros((2, 2)))
    np.save(tmp_path / "d" / "y.npy", np.zeros(2, dtype=np.int64))
    with pytest.raises(FormatError, match="float64, qfleet reads float32"):
        load_dataset(tmp_path / "d")
    with pytest.raises(FormatError, match="does not exist"):
        load_dataset(tmp_path / "nothing")
