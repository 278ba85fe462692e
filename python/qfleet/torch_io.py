"""Moving weights between torch modules and tensor containers.

Names are those of named_parameters() then named_buffers() (e.g.
"fc1.weight", "bn.running_mean"), in that order, as ml/model_io.h writes
them; every value travels as float32.
"""
import numpy as np
import torch

from .container import Tensor, read_container, decode_container
from .errors import FormatError


def _named_state(module):
    state = list(module.named_parameters())
    seen = {name for name, _ in state}
    state += [(n, b) for n, b in module.named_buffers() if n not in seen]
    return state


def container_from_module(module):
    """dict name -> float32 Tensor of every parameter and buffer of `module`."""
    out = {}
    for name, value in _named_state(module):
        out[name] = Tensor.from_array(name, value.detach().to("cpu", torch.float32).numpy())
    return out


def _as_container(source):
    if isinstance(source, dict):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        return decode_container(source)
    return read_container(source)


def load_state(module, source, strict=True):
    """Copies a container's tensors onto `module`'s parameters and buffers.

    `source` is a container file path, QFTC bytes, or a dict from
    read_container. Packed tensors are dequantized. With strict=True every
    parameter and buffer must be in the container and the container may hold
    nothing else; with strict=False the module's tensors that the container
    lacks keep their values (a container name the module lacks is still an
    error). Shapes must match exactly. Raises FormatError (a ValueError)
    listing every problem; the module is unchanged on error. Returns the
    list of names loaded.
    """
    tensors = _as_container(source)
    state = _named_state(module)
    known = {name for name, _ in state}
    problems = []
    missing = [n for n, _ in state if n not in tensors]
    if strict and missing:
        problems.append("missing from the container: " + ", ".join(missing))
    unexpected = [n for n in tensors if n not in known]
    if unexpected:
        problems.append("not in the module: " + ", ".join(unexpected))
    staged = []
    for name, target in state:
        if name not in tensors:
            continue
        t = tensors[name]
        if tuple(target.shape) != tuple(t.shape):
            problems.append(f"'{name}' has shape {list(t.shape)} in the container, the module "
                            f"expects {list(target.shape)}")
            continue
        staged.append((target, torch.from_numpy(np.array(t.dequantize(), dtype=np.float32))))
    if problems:
        raise FormatError("cannot load the container into "
                          f"{type(module).__name__}: " + "; ".join(problems))
    with torch.no_grad():
        for target, value in staged:
            if target.dtype.is_floating_point:
                target.copy_(value.to(target.dtype))
            else:
                target.copy_(torch.round(value).to(target.dtype))
    return [name for name, _ in state if name in tensors]
