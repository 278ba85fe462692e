"""The QFTC tensor container (version 1), as common/tensor_container.h defines it.

Little-endian, written field by field. File header, 16 bytes: magic "QFTC",
u16 version = 1, u16 flags = 0, u32 tensor_count (<= 65536), u32 reserved = 0.
Then one record per tensor:
  u16 name_len (1..255), name bytes, u8 dtype (0 = float32, 1 = packed per
  channel), u8 ndim (0..8), u16 reserved = 0, i64[ndim] dims;
  packed only, with C = dims[0] (1 for a scalar): u8[C] bits (1..8),
  f32[C] scales (finite, > 0), i32[C] zero_points (0..2^bits-1);
  u64 data_len, data (float32: the values row-major; packed: the channel rows,
  each starting on a byte boundary, see bit_packing), u32 crc32c of the
  record from name_len through the last data byte.
File trailer: u32 crc32c of every byte before it.

A packed element with code q in channel c has the value
float32(q - zero_points[c]) * scales[c].
"""
import struct
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ._files import decode_file, write_atomic
from .bit_packing import pack_bits, packed_bytes, unpack_bits
from .crc32c import crc32c
from .errors import ChecksumError, FormatError, check_header

MAGIC = b"QFTC"
VERSION = 1
HEADER_BYTES = 16
TRAILER_BYTES = 4
MIN_RECORD_BYTES = 19
MAX_TENSORS = 1 << 16
MAX_NAME_BYTES = 255
MAX_DIMS = 8
MAX_ELEMENTS = 1 << 31
DTYPE_FLOAT32 = 0
DTYPE_PACKED = 1


def _name_bytes(name):
    return name.encode("utf-8", "surrogateescape")


@dataclass
class Tensor:
    """A named tensor: float32 `values`, or packed per output channel.

    Output channels are shape[0] (a scalar has one channel). For a packed
    tensor `values` is None and bits/scales/zero_points hold one entry per
    channel; `packed` holds the channel rows one after another.
    """
    name: str
    shape: tuple
    values: Optional[np.ndarray] = None
    bits: Optional[np.ndarray] = None
    scales: Optional[np.ndarray] = None
    zero_points: Optional[np.ndarray] = None
    packed: bytes = field(default=b"", repr=False)

    @staticmethod
    def from_array(name, array):
        """A float32 tensor holding a copy of `array` (any real dtype)."""
        a = np.asarray(array)
        if a.dtype.kind not in "biuf":
            raise FormatError(f"tensor '{name}': dtype {a.dtype} is not a real number type")
        t = Tensor(name=name, shape=tuple(int(d) for d in a.shape),
                   values=np.ascontiguousarray(a, dtype=np.float32).copy())
        t.validate()
        return t

    @staticmethod
    def from_codes(name, shape, codes, bits, scales, zero_points):
        """A packed tensor from per-element codes (reshapeable to channels x row)."""
        shape = tuple(int(d) for d in shape)
        channels = shape[0] if shape else 1
        bits = np.asarray(bits, dtype=np.uint8).reshape(-1)
        if bits.size != channels:
            raise FormatError(f"tensor '{name}': {bits.size} bits for {channels} channels")
        codes = np.asarray(codes).reshape(channels, -1) if channels else np.zeros((0, 0))
        rows = [pack_bits(codes[c], int(bits[c])) for c in range(channels)]
        t = Tensor(name=name, shape=shape, bits=bits,
                   scales=np.asarray(scales, dtype=np.float32).reshape(-1),
                   zero_points=np.asarray(zero_points, dtype=np.int32).reshape(-1),
                   packed=b"".join(rows))
        t.validate()
        return t

    @property
    def is_packed(self):
        return self.values is None

    @property
    def num_elements(self):
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def channels(self):
        return self.shape[0] if self.shape else 1

    @property
    def row_length(self):
        return self.num_elements // self.channels if self.channels > 0 else 0

    def codes(self):
        """The packed codes as a uint8 array of shape (channels, row_length)."""
        if not self.is_packed:
            raise FormatError(f"tensor '{self.name}' is float32, it has no codes")
        row, out, offset = self.row_length, [], 0
        if self.channels and row and (self.bits == self.bits[0]).all():  # one width: at once
            b = int(self.bits[0])
            rows = np.frombuffer(self.packed, np.uint8).reshape(self.channels, -1)
            stream = np.unpackbits(rows, axis=1, bitorder="little")[:, :row * b]
            weights = (1 << np.arange(b, dtype=np.uint16)).astype(np.uint16)
            return (stream.reshape(self.channels, row, b).astype(np.uint16) * weights).sum(
                axis=2).astype(np.uint8)
        for b in self.bits.tolist():
            n = packed_bytes(row, b)
            out.append(unpack_bits(self.packed[offset:offset + n], row, b))
            offset += n
        return np.stack(out) if out else np.zeros((0, row), dtype=np.uint8)

    def dequantize(self):
        """float32 array of `shape`: the values, or the packed codes' values."""
        if not self.is_packed:
            return self.values.reshape(self.shape)
        q = self.codes().astype(np.int32) - self.zero_points[:, None]
        return (q.astype(np.float32) * self.scales[:, None]).reshape(self.shape)

    def validate(self):
        """Checks what ValidateTensor checks in C++; raises FormatError."""
        name = _name_bytes(self.name)
        if not 1 <= len(name) <= MAX_NAME_BYTES:
            raise FormatError(f"tensor name length {len(name)} not in [1, {MAX_NAME_BYTES}]")
        self._validate_shape()
        if self.is_packed:
            self._validate_packed()
        else:
            self._validate_float32()

    def _fail(self, what):
        raise FormatError(f"tensor '{self.name}': {what}")

    def _validate_shape(self):
        if len(self.shape) > MAX_DIMS:
            self._fail(f"rank {len(self.shape)} exceeds the maximum of {MAX_DIMS}")
        product = 1
        for i, d in enumerate(self.shape):
            if d < 0:
                self._fail(f"shape[{i}] = {d} is negative")
            product *= d
            if d > MAX_ELEMENTS or product > MAX_ELEMENTS:
                self._fail(f"element count exceeds the limit of {MAX_ELEMENTS}")

    def _validate_float32(self):
        v = self.values
        if not isinstance(v, np.ndarray) or v.dtype != np.float32:
            self._fail("values must be a float32 numpy array")
        if v.size != self.num_elements:
            self._fail(f"has {v.size} values, shape needs {self.num_elements}")
        bad = np.flatnonzero(~np.isfinite(v.reshape(-1)))
        if bad.size:
            i = int(bad[0])
            self._fail(f"values[{i}] is {'NaN' if np.isnan(v.reshape(-1)[i]) else 'infinite'}")
        if self.bits is not None or self.scales is not None or self.zero_points is not None \
                or self.packed:
            self._fail("a float32 tensor must have no bits/scales/zero_points/packed")

    def _validate_packed(self):
        c = self.channels
        sizes = [0 if a is None else np.asarray(a).size
                 for a in (self.bits, self.scales, self.zero_points)]
        if sizes != [c, c, c]:
            self._fail("bits/scales/zero_points sizes %d/%d/%d must all equal the channel "
                       "count %d" % (*sizes, c))
        bits = np.asarray(self.bits).astype(np.int64)
        scales = np.asarray(self.scales, dtype=np.float32)
        zeros = np.asarray(self.zero_points).astype(np.int64)
        with np.errstate(invalid="ignore"):
            bad = ((bits < 1) | (bits > 8) | ~np.isfinite(scales) | ~(scales > 0) | (zeros < 0)
                   | (zeros > (1 << np.clip(bits, 0, 8)) - 1))
        for c in np.flatnonzero(bad)[:1].tolist():
            if not 1 <= bits[c] <= 8:
                self._fail(f"bits[{c}] = {bits[c]} not in 1..8")
            if not (np.isfinite(scales[c]) and scales[c] > 0):
                self._fail(f"scales[{c}] = {scales[c]} must be finite and > 0")
            if not 0 <= zeros[c] <= (1 << bits[c]) - 1:
                self._fail(f"zero_points[{c}] = {zeros[c]} not in [0, {(1 << bits[c]) - 1}]")
        expected = sum(packed_bytes(self.row_length, int(b)) for b in bits)
        if len(self.packed) != expected:
            self._fail(f"packed has {len(self.packed)} bytes, bits and shape need {expected}")


def _encode_record(t):
    name = _name_bytes(t.name)
    parts = [struct.pack("<H", len(name)), name,
             struct.pack("<BBH", DTYPE_PACKED if t.is_packed else DTYPE_FLOAT32, len(t.shape), 0),
             struct.pack(f"<{len(t.shape)}q", *t.shape)]
    if t.is_packed:
        parts += [np.asarray(t.bits, dtype=np.uint8).tobytes(),
                  np.asarray(t.scales, dtype="<f4").tobytes(),
                  np.asarray(t.zero_points, dtype="<i4").tobytes(),
                  struct.pack("<Q", len(t.packed)), bytes(t.packed)]
    else:
        data = np.ascontiguousarray(t.values, dtype="<f4").tobytes()
        parts += [struct.pack("<Q", len(data)), data]
    record = b"".join(parts)
    return record + struct.pack("<I", crc32c(record))


def encode_container(tensors):
    """QFTC bytes of `tensors` (an iterable of Tensor, or a dict of them),
    in order. Raises FormatError for an invalid tensor, a duplicate name or
    more than 65536 tensors."""
    tensors = list(tensors.values()) if isinstance(tensors, dict) else list(tensors)
    if len(tensors) > MAX_TENSORS:
        raise FormatError(f"{len(tensors)} tensors exceed the limit {MAX_TENSORS}")
    seen = set()
    for t in tensors:
        t.validate()
        if t.name in seen:
            raise FormatError(f"duplicate tensor name '{t.name}'")
        seen.add(t.name)
    out = b"".join([MAGIC, struct.pack("<HHII", VERSION, 0, len(tensors), 0)]
                   + [_encode_record(t) for t in tensors])
    return out + struct.pack("<I", crc32c(out))


class _Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def remaining(self):
        return len(self.data) - self.pos

    def take(self, n, record, what):
        if n > self.remaining():
            raise FormatError(f"QFTC truncated: record {record} field {what} at offset "
                              f"{self.pos} runs past the end")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt, record, what):
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), record, what))


def _read_header(r):
    if r.remaining() < HEADER_BYTES:
        raise FormatError(f"QFTC truncated: {len(r.data)} bytes, the header alone needs "
                          f"{HEADER_BYTES}")
    if r.take(4, -1, "magic") != MAGIC:
        raise FormatError("not a QFTC container: bad magic")
    version, flags, count, reserved = r.unpack("HHII", -1, "header")
    check_header("QFTC", version, VERSION, flags, reserved)
    if count > MAX_TENSORS:
        raise FormatError(f"tensor_count {count} exceeds the limit {MAX_TENSORS}")
    if count * MIN_RECORD_BYTES > max(0, r.remaining() - TRAILER_BYTES):
        raise FormatError(f"tensor_count {count} cannot fit in the {r.remaining()} bytes "
                          "that follow the header")
    return count


def _read_record(r, i):
    start = r.pos
    (name_len,) = r.unpack("H", i, "name_len")
    name = bytes(r.take(name_len, i, "name")).decode("utf-8", "surrogateescape")
    dtype, ndim, reserved = r.unpack("BBH", i, "dtype/ndim/reserved")
    if dtype > DTYPE_PACKED:
        raise FormatError(f"record {i}: unknown dtype {dtype}")
    if ndim > MAX_DIMS:
        raise FormatError(f"record {i}: ndim {ndim} exceeds {MAX_DIMS}")
    if reserved:
        raise FormatError(f"record {i}: reserved field is not 0")
    shape = r.unpack(f"{ndim}q", i, "dims")
    t = Tensor(name=name, shape=tuple(shape))
    if dtype == DTYPE_PACKED:
        channels = shape[0] if shape else 1
        if channels < 0 or channels > MAX_ELEMENTS:
            raise FormatError(f"record {i}: channel count {channels} out of range")
        params = r.take(9 * channels, i, "channel params")
        t.bits = np.frombuffer(params, np.uint8, channels, 0).copy()
        t.scales = np.frombuffer(params, "<f4", channels, channels).astype(np.float32)
        t.zero_points = np.frombuffer(params, "<i4", channels, 5 * channels).astype(np.int32)
    (data_len,) = r.unpack("Q", i, "data_len")
    data = r.take(data_len, i, "data")
    end = r.pos
    (stored,) = r.unpack("I", i, "crc32c")
    actual = crc32c(r.data[start:end])
    if actual != stored:
        raise ChecksumError(f"record {i}: crc32c mismatch (stored {stored:#010x}, "
                            f"computed {actual:#010x})")
    if dtype == DTYPE_PACKED:
        t.packed = bytes(data)
    else:
        if data_len % 4:
            raise FormatError(f"record {i}: float32 data_len {data_len} is not a multiple of 4")
        t.values = np.frombuffer(data, "<f4").astype(np.float32)
    try:
        t.validate()
    except FormatError as e:
        raise FormatError(f"record {i}: {e}") from None
    if t.values is not None:
        t.values = t.values.reshape(t.shape)
    return t


def decode_container(data):
    """Parses QFTC bytes into a dict name -> Tensor (file order). Raises
    FormatError for anything DecodeContainer rejects (truncation, bad magic,
    version, flags, reserved fields, dtype, rank, NaN/Inf, duplicate names,
    trailing bytes) and ChecksumError for a record or file CRC mismatch."""
    r = _Reader(memoryview(bytes(data)))
    count = _read_header(r)
    tensors = {}
    for i in range(count):
        t = _read_record(r, i)
        if t.name in tensors:
            raise FormatError(f"duplicate tensor name '{t.name}'")
        tensors[t.name] = t
    end = r.pos
    if r.remaining() < TRAILER_BYTES:
        raise FormatError("QFTC truncated: file trailer crc32c missing")
    (stored,) = r.unpack("I", count, "trailer")
    if r.remaining():
        raise FormatError(f"QFTC has {r.remaining()} trailing bytes after the trailer")
    actual = crc32c(r.data[:end])
    if actual != stored:
        raise ChecksumError(f"QFTC file crc32c mismatch (stored {stored:#010x}, "
                            f"computed {actual:#010x})")
    return tensors


def read_container(path):
    """decode_container of a file; errors name the file."""
    return decode_file(path, decode_container)


def write_container(path, tensors):
    """Writes encode_container(tensors) to `path` (via a temp file + rename)."""
    write_atomic(path, encode_container(tensors))


def arrays(tensors):
    """dict name -> float32 numpy array (packed tensors dequantized)."""
    return {name: t.dequantize() for name, t in tensors.items()}
