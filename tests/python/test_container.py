import math
import struct

import numpy as np
import pytest

import qfleet
from qfleet.container import MAX_TENSORS, Tensor, decode_container, encode_container
from qfleet.crc32c import crc32c
from qfleet.errors import ChecksumError, FormatError


def random_packed(name, shape, bits, seed):
    rng = np.random.default_rng(seed)
    channels = shape[0] if shape else 1
    row = int(np.prod(shape)) // channels if channels else 0
    codes = [rng.integers(0, 1 << b, size=row) for b in bits]
    return Tensor.from_codes(name, shape, np.array(codes).reshape(-1) if row else [],
                             bits, 0.01 * rng.integers(1, 100, size=len(bits)),
                             [rng.integers(0, 1 << b) for b in bits])


def sample():
    rng = np.random.default_rng(1)
    return [Tensor.from_array("conv1.weight", rng.standard_normal((4, 3, 2, 2))),
            random_packed("fc.weight", (3, 5), [4, 3, 8], 2),
            Tensor.from_array("scalar", np.float32(0.25)),
            Tensor.from_array("empty", np.zeros((2, 0))),
            random_packed("odd", (2, 7), [1, 5], 3)]


def raw_record(name, shape, values, dtype=0):
    n = name.encode()
    body = (struct.pack("<H", len(n)) + n + struct.pack("<BBH", dtype, len(shape), 0)
            + struct.pack(f"<{len(shape)}q", *shape)
            + struct.pack("<Q", 4 * len(values)) + struct.pack(f"<{len(values)}f", *values))
    return body + struct.pack("<I", crc32c(body))


def raw_container(count, records):
    out = b"QFTC" + struct.pack("<HHII", 1, 0, count, 0) + records
    return out + struct.pack("<I", crc32c(out))


def test_layout_is_the_documented_one():
    # One float32 tensor "b" of shape [2] = {1, -2}, written out field by field.
    record = bytes.fromhex("0100" "62" "00" "01" "0000" "0200000000000000"
                           "0800000000000000" "0000803f" "000000c0")
    record += struct.pack("<I", crc32c(record))
    body = bytes.fromhex("51465443" "0100" "0000" "01000000" "00000000") + record
    want = body + struct.pack("<I", crc32c(body))
    assert encode_container([Tensor.from_array("b", [1.0, -2.0])]) == want
    assert decode_container(want)["b"].values.tolist() == [1.0, -2.0]


def test_packed_record_layout_and_dequantization():
    # 2 channels x 3 codes: channel 0 at 2 bits, channel 1 at 4 bits.
    t = Tensor.from_codes("q", (2, 3), [[0, 1, 3], [15, 8, 0]], [2, 4], [0.5, 0.25], [2, 8])
    data = encode_container([t])
    rec = data[16:-4]
    assert rec[:3] == b"\x01\x00q" and rec[3:5] == b"\x01\x02"
    off = 7 + 16
    assert rec[off:off + 2] == bytes([2, 4])
    assert struct.unpack_from("<2f2i", rec, off + 2) == (0.5, 0.25, 2, 8)
    assert struct.unpack_from("<Q", rec, off + 18)[0] == 1 + 2
    assert rec[off + 26:off + 29] == bytes([0 | 1 << 2 | 3 << 4, 15 | 8 << 4, 0])
    got = decode_container(data)["q"]
    assert got.dequantize().tolist() == [[-1.0, -0.5, 0.5], [1.75, 0.0, -2.0]]
    assert got.codes().tolist() == [[0, 1, 3], [15, 8, 0]]


def test_round_trip_keeps_order_values_and_packing(tmp_path):
    tensors = sample()
    data = encode_container(tensors)
    back = decode_container(data)
    assert list(back) == [t.name for t in tensors]
    for t in tensors:
        b = back[t.name]
        assert b.shape == t.shape and b.is_packed == t.is_packed
        np.testing.assert_array_equal(b.dequantize(), t.dequantize())
        if t.is_packed:
            assert b.packed == t.packed
            assert b.bits.tolist() == t.bits.tolist()
    assert encode_container(back) == data
    path = tmp_path / "m.qftc"
    qfleet.write_container(path, tensors)
    assert path.read_bytes() == data
    assert list(qfleet.read_container(path)) == list(back)


def test_every_truncation_is_rejected():
    data = encode_container(sample())
    for n in range(len(data)):
        with pytest.raises(FormatError):
            decode_container(data[:n])


def test_every_single_bit_flip_is_rejected():
    data = bytearray(encode_container(sample()[:3]))
    for bit in range(len(data) * 8):
        data[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(FormatError):
            decode_container(data)
        data[bit // 8] ^= 1 << (bit % 8)


@pytest.mark.parametrize("offset,value,message", [
    (0, ord("X"), "bad magic"), (3, ord("D"), "bad magic"),
    (4, 2, "unsupported QFTC version 2"), (6, 1, "unknown QFTC flags"),
    (8, 4, "trailing bytes"), (8, 6, "truncated"), (11, 0xFF, "exceeds the limit"),
    (12, 1, "reserved")])
def test_corrupt_header_fields(offset, value, message):
    data = bytearray(encode_container(sample()))
    data[offset] = value
    with pytest.raises(FormatError, match=message):
        decode_container(data)


def test_count_that_cannot_fit():
    data = bytearray(encode_container(sample()))
    data[8:12] = struct.pack("<I", MAX_TENSORS)
    with pytest.raises(FormatError, match="cannot fit"):
        decode_container(data)


def test_crc_mismatch_is_a_checksum_error():
    data = bytearray(encode_container(sample()))
    data[16 + 2 + 12 + 4 + 4 * 8 + 8] ^= 1  # first value byte of conv1.weight
    with pytest.raises(ChecksumError, match="record 0"):
        decode_container(data)
    data = bytearray(encode_container(sample()))
    data[-1] ^= 0x80
    with pytest.raises(ChecksumError, match="file crc32c"):
        decode_container(data)
    assert issubclass(ChecksumError, ValueError)


def test_trailing_bytes():
    with pytest.raises(FormatError, match="trailing"):
        decode_container(encode_container(sample()) + b"\0")


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_nan_and_inf_with_valid_crcs(bad):
    with pytest.raises(FormatError, match=r"values\[1\] is"):
        decode_container(raw_container(1, raw_record("w", [2], [1.0, bad])))


@pytest.mark.parametrize("records,count,message", [
    (raw_record("", [1], [1.0]), 1, "name length 0"),
    (raw_record("w", [3], [1.0, 2.0]), 1, "has 2 values, shape needs 3"),
    (raw_record("w", [-2], []), 1, "negative"),
    (raw_record("w", [1] * 9, [1.0]), 1, "ndim 9"),
    (raw_record("w", [1], [1.0], dtype=2), 1, "unknown dtype 2"),
    (raw_record("dup", [1], [1.0]) + raw_record("dup", [1], [2.0]), 2,
     "duplicate tensor name 'dup'")])
def test_bad_record_fields_with_valid_crcs(records, count, message):
    with pytest.raises(FormatError, match=message):
        decode_container(raw_container(count, records))


def test_writer_refuses_invalid_tensors():
    with pytest.raises(FormatError, match="values\\[0\\] is NaN"):
        Tensor.from_array("w", [math.nan])
    with pytest.raises(FormatError, match="duplicate"):
        encode_container([Tensor.from_array("a", [1]), Tensor.from_array("a", [2])])
    with pytest.raises(FormatError, match="name length 256"):
        Tensor.from_array("x" * 256, [1])
    with pytest.raises(FormatError, match="not a real number"):
        Tensor.from_array("s", np.array(["a"]))
    with pytest.raises(FormatError, match="zero_points"):
        Tensor.from_codes("q", (1, 2), [0, 1], [2], [1.0], [4])
    with pytest.raises(FormatError, match="scales"):
        Tensor.from_codes("q", (1, 2), [0, 1], [2], [0.0], [1])
    with pytest.raises(FormatError, match="bits"):
        Tensor.from_codes("q", (2, 2), [0, 1, 1, 0], [2], [1.0], [1])
    t = random_packed("p", (2, 3), [3, 3], 1)
    t.packed = t.packed[:-1]
    with pytest.raises(FormatError, match="packed has 3 bytes, bits and shape need 4"):
        encode_container([t])


@pytest.mark.parametrize("bits", [1, 3, 4, 7, 8])
def test_codes_of_one_width_and_of_mixed_widths_agree(bits):
    rng = np.random.default_rng(bits)
    codes = rng.integers(0, 1 << bits, size=(6, 5))
    uniform = Tensor.from_codes("u", (6, 5), codes, [bits] * 6, [1.0] * 6, [0] * 6)
    assert uniform.codes().tolist() == codes.tolist()
    # Same rows with one channel at another width take the per-row path.
    mixed = Tensor.from_codes("m", (7, 5), np.vstack([codes, np.zeros((1, 5), int)]),
                              [bits] * 6 + [2], [1.0] * 7, [0] * 7)
    assert mixed.codes()[:6].tolist() == codes.tolist()
    empty = decode_container(encode_container(
        [Tensor.from_codes("e", (3, 0), [], [bits] * 3, [1.0] * 3, [0] * 3)]))["e"]
    assert empty.dequantize().shape == (3, 0)
