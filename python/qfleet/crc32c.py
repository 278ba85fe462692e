"""CRC-32C (Castagnoli), the checksum of every qfleet format.

The same function as common/crc32c.h: reflected polynomial 0x82F63B78,
register initialised to ~crc and inverted at the end, so that
crc32c(b"123456789") == 0xE3069283 and crc32c(b, crc32c(a)) ==
crc32c(a + b). Pure Python over NumPy: long inputs are cut into equal
blocks whose checksums are computed side by side and then chained with the
"append L zero bytes" operator (CRCs are linear over GF(2)).
"""
import functools

import numpy as np

_POLY = 0x82F63B78


def _byte_table():
    table = []
    for b in range(256):
        crc = b
        for _ in range(8):
            crc = (crc >> 1) ^ (_POLY if crc & 1 else 0)
        table.append(crc)
    return table


_TABLE = _byte_table()
_TABLE_NP = np.array(_TABLE, dtype=np.uint32)
_BLOCK = 1024          # bytes per block of the vectorised path
_MIN_VECTOR = 16 * _BLOCK


def _update_bytes(reg, data):
    """Raw register update (no inversion), one byte at a time."""
    table = _TABLE
    for b in data:
        reg = (reg >> 8) ^ table[(reg ^ b) & 0xFF]
    return reg


@functools.lru_cache(maxsize=8)
def _zero_shift_tables(length):
    """Byte tables of the linear map 'register after `length` zero bytes'."""
    basis = [_update_bytes(1 << bit, bytes(length)) for bit in range(32)]
    tables = []
    for byte in range(4):
        t = [0] * 256
        for v in range(1, 256):
            low = v & -v
            t[v] = t[v ^ low] ^ basis[8 * byte + low.bit_length() - 1]
        tables.append(t)
    return tables


def _update_blocks(reg, view):
    """Raw register update over len(view) bytes, a multiple of _BLOCK."""
    blocks = np.frombuffer(view, dtype=np.uint8).reshape(-1, _BLOCK)
    regs = np.zeros(blocks.shape[0], dtype=np.uint32)
    for col in blocks.T:
        regs = (regs >> np.uint32(8)) ^ _TABLE_NP[(regs ^ col) & np.uint32(0xFF)]
    t0, t1, t2, t3 = _zero_shift_tables(_BLOCK)
    for block_reg in regs.tolist():
        reg = (t0[reg & 0xFF] ^ t1[(reg >> 8) & 0xFF] ^ t2[(reg >> 16) & 0xFF]
               ^ t3[reg >> 24] ^ block_reg)
    return reg


def crc32c(data, crc=0):
    """CRC-32C of `data` (bytes-like), continuing from `crc`."""
    view = memoryview(data).cast("B")
    reg = ~crc & 0xFFFFFFFF
    whole = (len(view) // _BLOCK) * _BLOCK if len(view) >= _MIN_VECTOR else 0
    if whole:
        reg = _update_blocks(reg, view[:whole])
    reg = _update_bytes(reg, view[whole:])
    return ~reg & 0xFFFFFFFF


def crc32c_reference(data, crc=0):
    """Byte-at-a-time CRC-32C; defines the result crc32c must match."""
    return ~_update_bytes(~crc & 0xFFFFFFFF, bytes(data)) & 0xFFFFFFFF
