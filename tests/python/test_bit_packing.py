import numpy as np
import pytest

from qfleet.bit_packing import pack_bits, packed_bytes, unpack_bits


def test_layouts_documented_in_bit_packing_h():
    assert pack_bits([1, 2], 4) == bytes([0x21])
    assert pack_bits([1, 2, 3, 0, 3], 2) == bytes([1 | 2 << 2 | 3 << 4, 3])
    assert pack_bits([1, 0, 1, 1, 0, 0, 0, 1, 1], 1) == bytes([0b10001101, 1])
    c = [5, 6, 7, 1]
    assert pack_bits(c, 3) == bytes([5 | 6 << 3 | (7 & 3) << 6, 7 >> 2 | 1 << 1])
    assert pack_bits([200, 7], 8) == bytes([200, 7])


@pytest.mark.parametrize("bits", range(1, 9))
def test_round_trip_every_width(bits):
    rng = np.random.default_rng(bits)
    for count in (0, 1, 7, 8, 9, 101):
        codes = rng.integers(0, 1 << bits, size=count)
        packed = pack_bits(codes, bits)
        assert len(packed) == packed_bytes(count, bits) == (count * bits + 7) // 8
        assert (unpack_bits(packed, count, bits) == codes).all()


def test_errors():
    with pytest.raises(ValueError, match="not in 1..8"):
        pack_bits([0], 9)
    with pytest.raises(ValueError, match="outside 0..3"):
        pack_bits([4], 2)
    with pytest.raises(ValueError, match="need 2 bytes"):
        unpack_bits(b"\x00", 5, 3)
