"""CHORD precision plans, QFPL version 1 (common/plan_codec.h).

Header, 32 bytes, little-endian: magic "QFPL", u16 version = 1, u16 flags = 0,
u32 layer_count (<= 65536), u32 total_channels (<= 2^30), u64 plan_version,
u32 reserved = 0, u32 crc32c of bytes [0, 28) followed by every byte after
the header. Body: per layer u8 name_len (1..255), name, u32 channels (>= 1);
then the codes, 2 bits per channel, four channels per byte, channel 0 in the
low bits; unused high bits of the last byte are zero.
"""
import struct
from dataclasses import dataclass, field

import numpy as np

from ._files import decode_file, write_atomic
from .bit_packing import pack_bits, packed_bytes, unpack_bits
from .crc32c import crc32c
from .errors import ChecksumError, FormatError, check_header

MAGIC = b"QFPL"
VERSION = 1
HEADER_BYTES = 32
CRC_OFFSET = 28
MAX_LAYERS = 1 << 16
MAX_CHANNELS = 1 << 30
_MIN_LAYER_BYTES = 6


@dataclass
class PrecisionPlan:
    """One 2-bit tier code (0..3) per output channel of every layer."""
    version: int = 0
    layer_names: list = field(default_factory=list)
    channels: list = field(default_factory=list)
    codes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint8))

    def layer_codes(self):
        """dict layer name -> its channels' codes (uint8 array)."""
        out, offset = {}, 0
        for name, c in zip(self.layer_names, self.channels):
            out[name] = self.codes[offset:offset + c]
            offset += c
        return out

    def validate(self):
        """Raises FormatError naming the first broken invariant."""
        if len(self.layer_names) != len(self.channels):
            raise FormatError(f"plan has {len(self.layer_names)} layer names but "
                              f"{len(self.channels)} channel counts")
        if len(self.layer_names) > MAX_LAYERS:
            raise FormatError(f"plan has {len(self.layer_names)} layers, limit {MAX_LAYERS}")
        if not 0 <= self.version < 1 << 64:
            raise FormatError(f"plan version {self.version} is not a u64")
        seen = set()
        for i, (name, c) in enumerate(zip(self.layer_names, self.channels)):
            n = len(name.encode("utf-8", "surrogateescape"))
            if not 1 <= n <= 255:
                raise FormatError(f"layer {i} name length {n} not in [1, 255]")
            if name in seen:
                raise FormatError(f"duplicate layer name '{name}'")
            seen.add(name)
            if not 1 <= c < 1 << 32:
                raise FormatError(f"layer '{name}' has {c} channels (must be 1..2^32-1)")
        total = sum(self.channels)
        if total > MAX_CHANNELS:
            raise FormatError(f"plan has {total} channels, limit {MAX_CHANNELS}")
        codes = np.asarray(self.codes)
        if codes.size != total:
            raise FormatError(f"plan has {codes.size} codes for {total} channels")
        bad = np.flatnonzero((codes < 0) | (codes > 3))
        if bad.size:
            raise FormatError(f"code {codes[bad[0]]} at channel {bad[0]} is not a 2-bit tier "
                              "(0..3)")


def _plan_crc(data):
    return crc32c(data[HEADER_BYTES:], crc32c(data[:CRC_OFFSET]))


def encode_plan(plan):
    """QFPL bytes of `plan`; FormatError if plan.validate() fails."""
    plan.validate()
    codes = np.asarray(plan.codes, dtype=np.uint8)
    body = [struct.pack("<B", len(n.encode("utf-8", "surrogateescape")))
            + n.encode("utf-8", "surrogateescape") + struct.pack("<I", c)
            for n, c in zip(plan.layer_names, plan.channels)]
    head = MAGIC + struct.pack("<HHIIQI", VERSION, 0, len(plan.layer_names), codes.size,
                               plan.version, 0)
    rest = b"".join(body) + pack_bits(codes, 2)
    crc = crc32c(rest, crc32c(head))
    return head + struct.pack("<I", crc) + rest


def decode_plan(data):
    """Parses QFPL bytes. FormatError for truncation, trailing bytes, bad
    magic/version/flags/reserved, counts out of range or disagreeing with
    the layers, or set padding bits; ChecksumError for a CRC mismatch."""
    data = bytes(data)
    if len(data) < HEADER_BYTES:
        raise FormatError(f"QFPL truncated: {len(data)} bytes, the header needs {HEADER_BYTES}")
    if data[:4] != MAGIC:
        raise FormatError("not a QFPL plan: bad magic")
    version, flags, layers, total, plan_version, reserved, stored = struct.unpack_from(
        "<HHIIQII", data, 4)
    check_header("QFPL", version, VERSION, flags, reserved)
    if layers > MAX_LAYERS or total > MAX_CHANNELS:
        raise FormatError(f"QFPL counts out of range: {layers} layers (limit {MAX_LAYERS}), "
                          f"{total} channels (limit {MAX_CHANNELS})")
    code_bytes = packed_bytes(total, 2)
    pos = HEADER_BYTES
    if layers * _MIN_LAYER_BYTES + code_bytes > len(data) - pos:
        raise FormatError(f"QFPL truncated: {layers} layers and {total} channels cannot fit "
                          f"in {len(data) - pos} bytes")
    plan = PrecisionPlan(version=plan_version)
    for i in range(layers):
        if pos + 1 > len(data) or pos + 1 + data[pos] + 4 > len(data):
            raise FormatError(f"QFPL truncated in layer {i}")
        n = data[pos]
        plan.layer_names.append(data[pos + 1:pos + 1 + n].decode("utf-8", "surrogateescape"))
        plan.channels.append(struct.unpack_from("<I", data, pos + 1 + n)[0])
        pos += 1 + n + 4
    left = len(data) - pos
    if left < code_bytes:
        raise FormatError(f"QFPL truncated: {code_bytes} code bytes needed, {left} left")
    if left > code_bytes:
        raise FormatError(f"QFPL has {left - code_bytes} trailing bytes")
    actual = _plan_crc(data)
    if actual != stored:
        raise ChecksumError(f"QFPL crc32c mismatch (stored {stored:#010x}, computed "
                            f"{actual:#010x})")
    if sum(plan.channels) != total:
        plan.codes = np.zeros(sum(plan.channels), dtype=np.uint8)
        plan.validate()  # names or a zero channel count first, as C++ reports them
        raise FormatError(f"QFPL header says {total} channels, the layers add up to "
                          f"{sum(plan.channels)}")
    used = (total * 2) % 8
    if used and data[-1] >> used:
        raise FormatError("QFPL padding bits after the last code are not zero")
    plan.codes = unpack_bits(data[pos:], total, 2)
    plan.validate()
    return plan


def read_plan(path):
    """decode_plan of a file; errors name the file."""
    return decode_file(path, decode_plan)


def write_plan(path, plan):
    """Writes encode_plan(plan) to `path` (via a temp file + rename)."""
    write_atomic(path, encode_plan(plan))
