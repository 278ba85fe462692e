"""Moving weights between torch modules and tensor containers.

The container of a bring-your-own model holds every parameter (named as in
named_parameters(), e.g. "fc1.weight") and then every floating-point buffer
(named_buffers(), e.g. "bn.running_mean"); integer buffers such as
BatchNorm's num_batches_tracked stay as saved in the module, as in
ml/torchscript_model.h. Every value travels as float32.
"""
import numpy as np
import torch

from .container import Tensor, read_container, decode_container
from .errors import FormatError


def _named_state(module):
    state = list(module.named_parameters())
    seen = {name for name, _ in state}
    state += [(n, b) for n, b in module.named_buffers()
              if n not in seen and b.dtype.is_floating_point]
    return state


def container_from_module(module):
    """dict name -> float32 Tensor of every parameter and floating buffer."""
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
    """Copies a container's tensors onto `module`'s parameters and floating buffers.

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
            target.copy_(value.to(target.dtype))
    return [name for name, _ in state if name in tensors]
