"""The packed code layout every qfleet format uses (common/bit_packing.h).

Codes form one LSB-first little-endian bit stream: code i occupies stream
bits [i*bits, (i+1)*bits), stream bit k is bit k % 8 of byte k // 8, and a
code's least significant bit comes first. Unused high bits of the last byte
are zero. So at 4 bits byte j = code[2j] | code[2j+1] << 4, and at 2 bits
channel 0 sits in the low bits of byte 0.
"""
import numpy as np


def _check_bits(bits):
    if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 8:
        raise ValueError(f"bits {bits!r} not in 1..8")


def packed_bytes(count, bits):
    """Bytes needed for `count` codes of `bits` bits: ceil(count * bits / 8)."""
    _check_bits(bits)
    return (count * bits + 7) // 8


def pack_bits(codes, bits):
    """Packs codes (each in 0..2^bits-1) into packed_bytes(len, bits) bytes."""
    _check_bits(bits)
    codes = np.asarray(codes)
    if codes.ndim != 1:
        codes = codes.reshape(-1)
    if codes.size and (codes.min() < 0 or codes.max() > (1 << bits) - 1):
        raise ValueError(f"a code is outside 0..{(1 << bits) - 1}")
    # Each code's bits, least significant first, form the stream in order.
    stream = ((codes.astype(np.uint16)[:, None] >> np.arange(bits, dtype=np.uint16)) & 1)
    return np.packbits(stream.reshape(-1).astype(np.uint8), bitorder="little").tobytes()


def unpack_bits(data, count, bits):
    """Inverse of pack_bits: reads exactly packed_bytes(count, bits) bytes."""
    _check_bits(bits)
    need = packed_bytes(count, bits)
    raw = np.frombuffer(bytes(data), dtype=np.uint8)
    if raw.size != need:
        raise ValueError(f"{count} codes of {bits} bits need {need} bytes, got {raw.size}")
    stream = np.unpackbits(raw, bitorder="little")[: count * bits].reshape(count, bits)
    weights = (1 << np.arange(bits, dtype=np.uint16)).astype(np.uint16)
    return (stream.astype(np.uint16) * weights).sum(axis=1).astype(np.uint8)
