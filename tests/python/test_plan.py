import struct

import numpy as np
import pytest

from qfleet.crc32c import crc32c
from qfleet.errors import ChecksumError, FormatError
from qfleet.plan import CRC_OFFSET, HEADER_BYTES, PrecisionPlan, decode_plan, encode_plan


def sample():
    return PrecisionPlan(0x0102030405060708, ["conv1", "fc"], [3, 6],
                         np.array([1, 2, 3, 0, 3, 0, 1, 1, 2], dtype=np.uint8))


def reseal(data):
    data = bytearray(data)
    crc = crc32c(data[HEADER_BYTES:], crc32c(data[:CRC_OFFSET]))
    data[CRC_OFFSET:CRC_OFFSET + 4] = struct.pack("<I", crc)
    return bytes(data)


def test_layout_is_the_documented_one():
    head = b"QFPL" + struct.pack("<HHIIQI", 1, 0, 2, 9, 0x0102030405060708, 0)
    body = (b"\x05conv1" + struct.pack("<I", 3) + b"\x02fc" + struct.pack("<I", 6)
            + bytes([1 | 2 << 2 | 3 << 4, 3 | 1 << 4 | 1 << 6, 2]))
    want = head + struct.pack("<I", crc32c(body, crc32c(head))) + body
    assert encode_plan(sample()) == want
    back = decode_plan(want)
    assert back.version == 0x0102030405060708
    assert back.layer_codes()["fc"].tolist() == [0, 3, 0, 1, 1, 2]


def test_round_trips_random_plans(tmp_path):
    rng = np.random.default_rng(1)
    for _ in range(10):
        layers = int(rng.integers(1, 30))
        channels = [int(c) for c in rng.integers(1, 514, size=layers)]
        plan = PrecisionPlan(int(rng.integers(0, 1 << 62)), [f"layer{i}" for i in range(layers)],
                             channels, rng.integers(0, 4, size=sum(channels)))
        back = decode_plan(encode_plan(plan))
        assert back.layer_names == plan.layer_names and back.channels == channels
        assert (back.codes == plan.codes).all() and back.version == plan.version


def test_every_truncation_and_bit_flip_is_rejected():
    data = bytearray(encode_plan(sample()))
    for n in range(len(data)):
        with pytest.raises(FormatError):
            decode_plan(data[:n])
    for bit in range(len(data) * 8):
        data[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(FormatError):
            decode_plan(data)
        data[bit // 8] ^= 1 << (bit % 8)


@pytest.mark.parametrize("offset,value,message", [
    (1, ord("X"), "bad magic"), (4, 7, "unsupported QFPL version 7"), (7, 1, "flags"),
    (8, 3, "truncated"), (8, 1, "trailing"), (15, 0x7F, "out of range"),
    (11, 0x01, "out of range"), (12, 8, "trailing"), (12, 13, "truncated"),
    (27, 1, "reserved")])
def test_corrupt_header_fields(offset, value, message):
    data = bytearray(encode_plan(sample()))
    data[offset] = value
    with pytest.raises(FormatError, match=message):
        decode_plan(data)


def test_crc_mismatch_is_a_checksum_error():
    good = encode_plan(sample())
    for offset in (len(good) - 1, 16, CRC_OFFSET):
        bad = bytearray(good)
        bad[offset] ^= 0x10
        with pytest.raises(ChecksumError):
            decode_plan(bad)


def test_semantic_checks_behind_a_valid_crc():
    good = bytearray(encode_plan(sample()))
    for offset, value, message in [(-1, good[-1] | 0x40, "padding"), (38, 4, "add up to 10"),
                                   (38, 0, "0 channels")]:
        bad = bytearray(good)
        bad[offset] = value
        with pytest.raises(FormatError, match=message):
            decode_plan(reseal(bad))
    dup = PrecisionPlan(1, ["a", "a"], [1, 1], [0, 0])
    with pytest.raises(FormatError, match="duplicate layer name 'a'"):
        encode_plan(dup)
    with pytest.raises(FormatError, match="not a 2-bit tier"):
        encode_plan(PrecisionPlan(1, ["a"], [2], [0, 4]))
    with pytest.raises(FormatError, match="3 codes for 2 channels"):
        encode_plan(PrecisionPlan(1, ["a"], [2], [0, 1, 2]))
    with pytest.raises(FormatError, match="name length 0"):
        encode_plan(PrecisionPlan(1, [""], [1], [0]))
