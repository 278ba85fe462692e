import os
import random

from qfleet.crc32c import crc32c, crc32c_reference


def test_known_vectors():
    # RFC 3720 (iSCSI) B.4 and the classic check value.
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(bytes([0xFF] * 32)) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(b"") == 0


def test_vectorised_path_matches_reference_at_every_boundary():
    rng = random.Random(7)
    for n in (0, 1, 1023, 1024, 16383, 16384, 16385, 50000, 70001):
        data = bytes(rng.getrandbits(8) for _ in range(n))
        assert crc32c(data) == crc32c_reference(data), n


def test_continuation_equals_whole():
    data = os.urandom(40000)
    for cut in (0, 1, 17000, 39999, 40000):
        assert crc32c(data[cut:], crc32c(data[:cut])) == crc32c(data)


def test_one_flipped_bit_changes_it():
    data = bytearray(os.urandom(20000))
    before = crc32c(data)
    data[12345] ^= 0x10
    assert crc32c(data) != before
