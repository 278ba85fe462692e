import numpy as np
import pytest
import torch

from qfleet.container import Tensor, encode_container
from qfleet.errors import FormatError
from qfleet.torch_io import container_from_module, load_state


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.bn(self.conv(x)).mean(dim=(2, 3)))


def symmetric_rtn(name, w, bits):
    """Per-channel symmetric codes, zero point 2^(bits-1) (the deployed scheme)."""
    w = np.asarray(w, dtype=np.float32)
    rows = w.reshape(w.shape[0], -1)
    zero = 1 << (bits - 1)
    scales = np.maximum(np.abs(rows).max(axis=1) / (zero - 1 if bits > 1 else 1), 1e-8)
    codes = np.clip(np.round(rows / scales[:, None]) + zero, 0, (1 << bits) - 1)
    return Tensor.from_codes(name, w.shape, codes.astype(np.uint8), [bits] * w.shape[0],
                             scales.astype(np.float32), [zero] * w.shape[0])


def test_names_follow_parameters_then_floating_buffers():
    names = list(container_from_module(Net()))
    assert names == ["conv.weight", "conv.bias", "bn.weight", "bn.bias", "fc.weight",
                     "fc.bias", "bn.running_mean", "bn.running_var"]


def test_round_trip_through_bytes_reproduces_outputs():
    torch.manual_seed(0)
    src, dst = Net(), Net()
    src.train()(torch.randn(8, 1, 6, 6))  # moves the BN running stats
    src.eval(), dst.eval()
    loaded = load_state(dst, encode_container(container_from_module(src)))
    assert len(loaded) == 8
    x = torch.randn(5, 1, 6, 6)
    assert torch.equal(src(x), dst(x))
    assert dst.bn.num_batches_tracked.item() == 0  # integer buffers do not travel


def test_packed_tensors_are_dequantized():
    torch.manual_seed(1)
    net = Net()
    tensors = container_from_module(net)
    w = net.fc.weight.detach().numpy()
    tensors["fc.weight"] = symmetric_rtn("fc.weight", w, 4)
    other = Net()
    load_state(other, tensors)
    got = other.fc.weight.detach().numpy()
    np.testing.assert_array_equal(got, tensors["fc.weight"].dequantize())
    step = tensors["fc.weight"].scales[:, None]
    assert (np.abs(got - w) <= step / 2 + 1e-7).all() and not np.array_equal(got, w)


def test_load_into_a_scripted_module(tmp_path):
    net = Net().eval()
    scripted = torch.jit.script(Net().eval())
    load_state(scripted, container_from_module(net))
    x = torch.randn(2, 1, 5, 5)
    assert torch.allclose(scripted(x), net(x))


def test_errors_name_every_problem_and_change_nothing():
    net = Net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    tensors = container_from_module(Net())
    del tensors["fc.bias"]
    tensors["extra.weight"] = Tensor.from_array("extra.weight", [1.0])
    tensors["conv.weight"] = Tensor.from_array("conv.weight", np.zeros((4, 1, 2, 2)))
    with pytest.raises(FormatError) as e:
        load_state(net, tensors)
    msg = str(e.value)
    assert "missing from the container: fc.bias" in msg
    assert "not in the module: extra.weight" in msg
    assert "'conv.weight' has shape [4, 1, 2, 2] in the container, the module expects " \
           "[4, 1, 3, 3]" in msg
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_non_strict_allows_missing_only():
    net = Net()
    tensors = container_from_module(Net())
    del tensors["bn.running_mean"]
    keep = net.bn.running_mean.clone()
    loaded = load_state(net, tensors, strict=False)
    assert "bn.running_mean" not in loaded and torch.equal(net.bn.running_mean, keep)
    tensors["nope"] = Tensor.from_array("nope", [0.0])
    with pytest.raises(FormatError, match="not in the module: nope"):
        load_state(net, tensors, strict=False)


def test_a_file_path_with_a_bad_crc_names_the_file(tmp_path):
    path = tmp_path / "m.qftc"
    data = bytearray(encode_container(container_from_module(Net())))
    data[40] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"{path}.*crc32c mismatch"):
        load_state(Net(), str(path))
