"""Saving a model and data in the formats qfleet takes ("bring your own model").

Model: a TorchScript file (torch.jit.save). Data: a directory holding X.npy
(float32, first axis = samples) and y.npy (int64 class labels, or float32
targets), with as many labels/targets as samples and no NaN or Inf.
"""
import os

import numpy as np
import torch

from .errors import FormatError


def _check_forward(scripted, module, example_input, how):
    with torch.no_grad():
        try:
            got = scripted(example_input)
        except Exception as e:  # the user's forward: any error is theirs
            raise FormatError(f"the {how} module's forward fails on an input of shape "
                              f"{list(example_input.shape)}: {e}") from None
        want = module(example_input)
    if isinstance(want, torch.Tensor) and not torch.allclose(got, want, rtol=1e-5, atol=1e-6):
        raise FormatError(f"the {how} module's output differs from the module's own "
                          "(tracing records one path through data-dependent control flow; "
                          "make the module scriptable instead)")


def save_model(module, path, example_input=None):
    """Writes `module` as TorchScript to `path`; returns "script" or "trace".

    Tries torch.jit.script first; if that fails and `example_input` (a
    tensor shaped like a batch of X) is given, traces the module on it in
    eval mode (tracing records the path taken for that input: dropout is
    recorded off and data-dependent branches are frozen). With an example
    input the saved module's forward is run on it and compared with the
    module's own output. Raises FormatError explaining why neither worked.
    """
    if not isinstance(module, torch.nn.Module):
        raise FormatError(f"save_model needs a torch.nn.Module, got {type(module).__name__}")
    if example_input is not None:
        example_input = torch.as_tensor(example_input, dtype=torch.float32)
    was_training = module.training
    try:
        module.eval()
        try:
            scripted, how = torch.jit.script(module), "script"
        except Exception as script_error:
            if example_input is None:
                raise FormatError("torch.jit.script failed and there is no example_input to "
                                  f"trace with: {script_error}") from None
            try:
                scripted, how = torch.jit.trace(module, example_input), "trace"
            except Exception as trace_error:
                raise FormatError(f"torch.jit.script failed ({script_error}) and so did "
                                  f"torch.jit.trace ({trace_error})") from None
        if example_input is not None:
            _check_forward(scripted, module, example_input, "scripted" if how == "script"
                           else "traced")
    finally:
        module.train(was_training)
    scripted.train(was_training)
    torch.jit.save(scripted, path)
    return how


def _features(X):
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise FormatError(f"X has dtype {X.dtype}; it must hold real numbers")
    if X.ndim < 1:
        raise FormatError("X is a scalar; its first axis must be the samples")
    if X.shape[0] == 0:
        raise FormatError("X holds no samples")
    with np.errstate(over="ignore"):  # overflow to Inf is reported below
        X32 = np.ascontiguousarray(X, dtype=np.float32)
    bad = np.flatnonzero(~np.isfinite(X32.reshape(X32.shape[0], -1)).all(axis=1))
    if bad.size:
        raise FormatError(f"X has NaN or Inf (after conversion to float32) in {bad.size} "
                          f"samples, the first at index {bad[0]}")
    return X32


def _labels(y, n, task):
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise FormatError(f"y has dtype {y.dtype}; it must hold labels or targets")
    if y.ndim == 0 or y.shape[0] != n:
        raise FormatError(f"X has {n} samples but y has shape {list(y.shape)}: the first axes "
                          "must have the same length")
    if task is None:
        task = "classification" if y.dtype.kind in "biu" else "regression"
    if task == "classification":
        if y.ndim != 1:
            raise FormatError(f"class labels must be 1-D, y has shape {list(y.shape)}")
        if y.dtype.kind == "f":
            if not np.isfinite(y).all() or (y != np.round(y)).any():
                raise FormatError("class labels must be whole numbers; y has fractions, "
                                  "NaN or Inf")
        y64 = y.astype(np.int64)
        if y64.min() < 0:
            raise FormatError(f"class labels must be >= 0, y has {y64.min()}")
        return y64
    if task == "regression":
        with np.errstate(over="ignore"):
            y32 = np.ascontiguousarray(y, dtype=np.float32)
        if not np.isfinite(y32).all():
            raise FormatError("y has NaN or Inf (after conversion to float32)")
        return y32
    raise FormatError(f"task {task!r} must be 'classification', 'regression' or None")


def _save_npy(path, array):
    tmp = f"{path}.tmp{os.getpid()}.npy"
    np.save(tmp, array, allow_pickle=False)
    os.replace(tmp, path)


def save_dataset(X, y, directory, task=None):
    """Writes X.npy (float32) and y.npy to `directory` (created if absent).

    y becomes int64 class labels when it holds integers (or task is
    "classification"), float32 targets when it holds floats (or task is
    "regression"; binary targets for the "bce" loss are float32 0/1).
    Raises FormatError, writing nothing, for non-numeric data, X without a
    feature axis, mismatched lengths, NaN/Inf, or negative or fractional
    class labels. Returns (X as saved, y as saved).
    """
    X32 = _features(X)
    yy = _labels(y, X32.shape[0], task)
    os.makedirs(directory, exist_ok=True)
    _save_npy(os.path.join(directory, "X.npy"), X32)
    _save_npy(os.path.join(directory, "y.npy"), yy)
    return X32, yy


def load_dataset(directory):
    """Reads X.npy and y.npy from `directory` with the checks save_dataset
    makes (X must be float32 and y int64 or float32, as qfleet reads them)."""
    arrays = []
    for name in ("X.npy", "y.npy"):
        path = os.path.join(directory, name)
        if not os.path.exists(path):
            raise FormatError(f"{path} does not exist")
        arrays.append(np.load(path, allow_pickle=False))
    X, y = arrays
    if X.dtype != np.float32:
        raise FormatError(f"{directory}/X.npy has dtype {X.dtype}, qfleet reads float32 "
                          "(X.astype(numpy.float32))")
    if y.dtype not in (np.int64, np.float32):
        raise FormatError(f"{directory}/y.npy has dtype {y.dtype}, qfleet reads int64 labels "
                          "or float32 targets")
    return _features(X), _labels(y, X.shape[0], "classification" if y.dtype == np.int64
                                 else "regression")
