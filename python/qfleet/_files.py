"""File helpers the formats share."""
import os

from .errors import FormatError


def decode_file(path, decode):
    """decode(bytes of `path`); a FormatError is re-raised naming the file."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        return decode(data)
    except FormatError as e:
        raise type(e)(f"{path}: {e}") from None


def write_atomic(path, data):
    """Writes `data` to `path` through a temp file and a rename, so a reader
    never sees half a file."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
