"""qfleet's Python package: the tensor container and precision plan formats,
loading exported models into torch modules, saving your own model and data
for qfleet, and a client of the coordinator's admin API (qfleet.admin)."""
from .container import (Tensor, arrays, decode_container, encode_container,
                        read_container, write_container)
from .errors import ChecksumError, FormatError
from .plan import PrecisionPlan, decode_plan, encode_plan, read_plan, write_plan

__all__ = [
    "Tensor", "arrays", "decode_container", "encode_container", "read_container",
    "write_container", "ChecksumError", "FormatError", "PrecisionPlan", "decode_plan",
    "encode_plan", "read_plan", "write_plan", "load_state", "container_from_module",
    "save_model", "save_dataset", "load_dataset",
]


def __getattr__(name):
    # torch is imported only when a torch helper is used.
    if name in ("load_state", "container_from_module"):
        from . import torch_io
        return getattr(torch_io, name)
    if name in ("save_model", "save_dataset", "load_dataset"):
        from . import byom
        return getattr(byom, name)
    raise AttributeError(f"module 'qfleet' has no attribute {name!r}")
