"""The Python formats and admin client against the C++ programs.

qfleet_format_probe (format_probe.cc, built with the tests) writes a
container (FP32 tensors and packed ones from the C++ deployed quantizer at
mixed bits) and a plan that Python must read, re-encode byte for byte and
dequantize bit for bit; it reads what Python writes and prints every value.
C++ -> Python: the coordinator's model v1 (exported through the admin API
with TLS and the admin token, and its blob file) and the PTQ updates a
simulated round stores (packed 4-bit containers) are read by Python.
Python -> C++: a container written by Python (FP32 and packed tensors) is
the coordinator's --initial-model; the coordinator decodes, validates and
re-encodes it, and what it exports must be Python's bytes exactly.
A bring-your-own model saved by the package federates in qfleet-sim and its
exported weights reproduce the run's metric in Python (skipped until
qfleet-sim takes --model). Needs QFLEET_BIN_DIR (set by CTest) and
Fashion-MNIST; skips otherwise.
"""
import gzip
import hashlib
import json
import os
import re
import sqlite3
import struct
import subprocess
import sys
import time

import grpc
import numpy as np
import pytest
import torch

from conftest import FMNIST_DIR, REPO, bin_path
from qfleet.client import AdminClient, AdminError
from qfleet.container import Tensor, decode_container, encode_container, read_container
from qfleet.byom import save_dataset, save_model
from qfleet.plan import PrecisionPlan, decode_plan, encode_plan
from qfleet.torch_io import load_state

sys.path.insert(0, os.path.join(REPO, "examples", "byom"))
import tasks  # noqa: E402 (examples/byom: the metrics the examples use)

TOKEN = "cross-language-token-" + "0123456789abcdef" * 2


def small_fmnist(out, train, test):
    """The first `train`/`test` Fashion-MNIST images as IDX gz files in `out`."""
    if not os.path.exists(os.path.join(FMNIST_DIR, "t10k-labels-idx1-ubyte.gz")):
        pytest.skip(f"no Fashion-MNIST in {FMNIST_DIR}")
    os.makedirs(out, exist_ok=True)
    for prefix, n in (("train", train), ("t10k", test)):
        for kind, magic, item in (("images-idx3", 0x803, 784), ("labels-idx1", 0x801, 1)):
            name = f"{prefix}-{kind}-ubyte.gz"
            with gzip.open(os.path.join(FMNIST_DIR, name), "rb") as f:
                head = 16 if item > 1 else 8
                data = f.read(head + n * item)[head:]
            dims = struct.pack(">III", n, 28, 28) if item > 1 else struct.pack(">I", n)
            with gzip.open(os.path.join(out, name), "wb", compresslevel=1) as f:
                f.write(struct.pack(">I", magic) + dims + data)
    return out


def probe(*args):
    return subprocess.run([bin_path("qfleet_format_probe"), *map(str, args)],
                          capture_output=True, text=True, timeout=60)


def probe_read(path):
    """What the C++ decoder read: name -> (dtype, shape, bits, zeros, scales, values)."""
    run = probe("read", path)
    assert run.returncode == 0, run.stderr
    out = {}
    for line in run.stdout.splitlines():
        _, name, dtype, *fields = line.split(" ")
        ints = [[] if f == "-" else [int(v) for v in f.split(",")] for f in fields[:3]]
        floats = [np.array([] if f == "-" else [float.fromhex(v) for v in f.split(",")],
                           dtype=np.float32) for f in fields[3:]]
        out[name] = (int(dtype), tuple(ints[0]), ints[1], ints[2], *floats)
    return out


def test_python_reads_what_cpp_writes_bit_for_bit(tmp_path):
    path = tmp_path / "cpp.qftc"
    assert probe("write-container", path).returncode == 0
    data = path.read_bytes()
    tensors = decode_container(data)
    assert encode_container(tensors) == data
    cpp = probe_read(path)
    assert list(tensors) == list(cpp) == ["fc1.weight", "fc1.bias", "scalar", "conv.weight",
                                          "fc2.weight"]
    for name, t in tensors.items():
        dtype, shape, bits, zeros, scales, values = cpp[name]
        assert (dtype == 1) == t.is_packed and shape == t.shape
        assert t.dequantize().reshape(-1).tobytes() == values.tobytes(), name
        if t.is_packed:
            assert t.bits.tolist() == bits and t.zero_points.tolist() == zeros
            assert t.scales.tobytes() == scales.tobytes()
    conv = tensors["conv.weight"]
    assert conv.bits.tolist() == [2, 3, 5, 8]
    assert conv.zero_points.tolist() == [1 << (b - 1) for b in (2, 3, 5, 8)]  # symmetric
    want = ((np.arange(24, dtype=np.float32) - 5) * np.float32(0.0731)).reshape(4, 6)
    codes = conv.codes()
    inside = (codes > 0) & (codes < (1 << conv.bits[:, None].astype(int)) - 1)
    error = np.abs(conv.dequantize().reshape(4, 6) - want)
    assert inside.sum() > 12  # the clipping observer may clip a few, not most
    assert (error <= conv.scales[:, None] * 0.5 * (1 + 1e-5))[inside].all()
    assert tensors["fc1.weight"].values[0, 0] == np.float32(0.37) * np.float32(-5)


def test_cpp_reads_what_python_writes_bit_for_bit(tmp_path):
    rng = np.random.default_rng(11)
    bits = [1, 2, 3, 4, 5, 6, 7, 8]
    codes = [rng.integers(0, 1 << b, size=9) for b in bits]
    tensors = [Tensor.from_array("conv.weight", rng.standard_normal((5, 3, 2, 2))),
               Tensor.from_codes("packed.weight", (8, 3, 3), np.stack(codes), bits,
                                 rng.uniform(0.001, 1.0, size=8),
                                 [int(rng.integers(0, 1 << b)) for b in bits]),
               Tensor.from_array("scalar", np.float32(-0.0)),
               Tensor.from_array("empty", np.zeros((3, 0))),
               Tensor.from_array("ünïcode.bias", rng.standard_normal(5))]
    path = tmp_path / "python.qftc"
    path.write_bytes(encode_container(tensors))
    cpp = probe_read(path)
    assert list(cpp) == [t.name for t in tensors]
    for t in tensors:
        dtype, shape, bits_read, zeros, scales, values = cpp[t.name]
        assert shape == t.shape and (dtype == 1) == t.is_packed
        assert values.tobytes() == t.dequantize().reshape(-1).tobytes(), t.name
    assert cpp["packed.weight"][2] == bits

    data = bytearray(path.read_bytes())
    data[40] ^= 0x01
    path.write_bytes(bytes(data))
    run = probe("read", path)
    assert run.returncode == 1 and "DATA_LOSS" in run.stderr and "crc32c mismatch" in run.stderr


def test_plans_cross_both_ways(tmp_path):
    cpp_path = tmp_path / "cpp.qfpl"
    assert probe("write-plan", cpp_path).returncode == 0
    plan = decode_plan(cpp_path.read_bytes())
    assert plan.version == 0x0102030405060708 and plan.channels == [3, 6, 13]
    assert plan.codes.tolist() == [(i * 7 + 1) % 4 for i in range(22)]
    assert encode_plan(plan) == cpp_path.read_bytes()

    mine = PrecisionPlan(2 ** 64 - 1, ["a", "layer.two", "c"], [1, 4, 7],
                         np.random.default_rng(2).integers(0, 4, size=12))
    path = tmp_path / "python.qfpl"
    path.write_bytes(encode_plan(mine))
    run = probe("read", path)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == f"plan {2 ** 64 - 1}"
    offset = 0
    for line, name, c in zip(lines[1:], mine.layer_names, mine.channels):
        want = ",".join(str(v) for v in mine.codes[offset:offset + c])
        assert line == f"layer {name} {c} {want}"
        offset += c
    path.write_bytes(encode_plan(mine)[:-1])
    run = probe("read", path)
    assert run.returncode == 1 and "INVALID_ARGUMENT: QFPL truncated" in run.stderr


@pytest.fixture(scope="module")
def env(tmp_path_factory, repo):
    coordinator = bin_path("qfleet-coordinator")
    work = tmp_path_factory.mktemp("xlang")
    subprocess.run(["bash", f"{repo}/deploy/gen-certs.sh", str(work / "pki")], check=True,
                   capture_output=True)
    (work / "admin.token").write_text(TOKEN + "\n")
    return {"bin": os.path.dirname(coordinator), "work": work,
            "data": small_fmnist(str(work / "fmnist"), 200, 100)}


class Coordinator:
    def __init__(self, env, db, *extra):
        w = env["work"]
        self.log = open(w / f"{db}.log", "w+")
        self.db = w / db
        self.proc = subprocess.Popen(
            [os.path.join(env["bin"], "qfleet-coordinator"), "--listen", "127.0.0.1:0",
             "--db", str(self.db), "--data-dir", env["data"],
             "--tls-cert", str(w / "pki/server.crt"), "--tls-key", str(w / "pki/server.key"),
             "--admin-token-file", str(w / "admin.token"), *extra],
            stdout=subprocess.DEVNULL, stderr=self.log)
        self.address = None
        deadline = time.time() + 60
        while time.time() < deadline and self.proc.poll() is None:
            self.log.seek(0)
            m = re.search(r"serving on (\S+) ", self.log.read())
            if m:
                self.address = m.group(1)
                return
            time.sleep(0.05)
        self.log.seek(0)
        text = self.log.read()
        self.stop()
        raise AssertionError(f"coordinator did not start:\n{text}")

    def client(self, env, **kw):
        kw.setdefault("admin_token", TOKEN)
        return AdminClient(self.address, ca_file=str(env["work"] / "pki/ca.crt"),
                           timeout_s=20, **kw)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()


def blob_path(db, data):
    sha = hashlib.sha256(data).hexdigest()
    return os.path.join(f"{db}.blobs", sha[:2], sha)


def test_coordinator_model_round_trips_through_python(env):
    first = Coordinator(env, "first.db", "--seed", "3")
    try:
        with first.client(env) as c:
            status = c.status()
            assert status.latest_model_version == 1 and status.devices == 0
            assert c.list_devices() == [] and c.list_rounds() == []
            exported, version = c.export_model(0)
            assert version == 1
            # No device has joined, so the campaign waits with its rounds planned.
            assert c.start_rounds(rounds=2, min_devices=3, strategy="fp32", weight_bits=8,
                                  local_epochs=1, batch_size=32, learning_rate=0.05,
                                  seed=1) == (1, 2)
            assert c.status().rounds_planned == 2
            with pytest.raises(AdminError) as e:
                c.start_rounds(rounds=1, strategy="no-such-strategy")
            assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
        # qfleetctl, the C++ admin client, exports the same bytes.
        ctl = os.path.join(env["bin"], "qfleetctl")
        if os.access(ctl, os.X_OK):
            out = env["work"] / "qfleetctl.qftc"
            subprocess.run([ctl, "--coordinator", first.address, "--tls-ca",
                            str(env["work"] / "pki/ca.crt"), "--admin-token-file",
                            str(env["work"] / "admin.token"), "models", "export", "1", "--out",
                            str(out)], check=True, capture_output=True, timeout=60)
            assert out.read_bytes() == exported
        with first.client(env, admin_token="wrong") as c, pytest.raises(AdminError) as e:
            c.status()
        assert e.value.code == grpc.StatusCode.UNAUTHENTICATED
    finally:
        first.stop()
    # C++ -> Python: the export and the stored blob are the same container.
    with open(blob_path(first.db, exported), "rb") as f:
        assert f.read() == exported
    model = decode_container(exported)
    assert len(model) >= 4 and all(not t.is_packed for t in model.values())
    assert encode_container(model) == exported  # Python writes what C++ wrote

    # Python -> C++: halve every weight and pack the first matrix at 4 bits.
    tensors = [Tensor.from_array(n, t.values * np.float32(0.5)) for n, t in model.items()]
    name, w = next((n, t.values) for n, t in model.items() if t.values.ndim >= 2)
    rows = w.reshape(w.shape[0], -1)
    scales = (np.abs(rows).max(axis=1) / 7).astype(np.float32)
    codes = np.clip(np.round(rows / scales[:, None]) + 8, 0, 15).astype(np.uint8)
    tensors[list(model).index(name)] = Tensor.from_codes(name, w.shape, codes, [4] * len(scales),
                                                         scales, [8] * len(scales))
    mine = encode_container(tensors)
    (env["work"] / "python.qftc").write_bytes(mine)
    second = Coordinator(env, "second.db", "--initial-model", str(env["work"] / "python.qftc"))
    try:
        with second.client(env) as c:
            back, version = c.export_model(1)
    finally:
        second.stop()
    assert version == 1 and back == mine
    assert decode_container(back)[name].bits.tolist() == [4] * len(scales)


def test_packed_updates_written_by_cpp_dequantize_to_the_aggregate(env, tmp_path):
    sim = bin_path("qfleet-sim")
    db = tmp_path / "sim.db"
    run = subprocess.run(
        [sim, "--devices", "2", "--rounds", "1", "--seed", "5", "--strategy", "ptq",
         "--wbits", "4", "--data-dir", env["data"], "--train-limit", "200", "--test-limit",
         "100", "--max-steps", "3", "--db", str(db), "--export-model",
         str(tmp_path / "final.qftc"), "--quiet"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    final = read_container(tmp_path / "final.qftc")
    with sqlite3.connect(db) as sql:
        rows = sql.execute("SELECT blob_hash, sample_count FROM updates").fetchall()
    assert len(rows) == 2
    uploads = []
    for blob_hash, samples in rows:
        with open(os.path.join(f"{db}.blobs", blob_hash[:2], blob_hash), "rb") as f:
            uploads.append((decode_container(f.read()), samples))
    for upload, _ in uploads:
        packed = [t for t in upload.values() if t.is_packed]
        assert packed, "a PTQ upload holds packed tensors"
        assert all(t.bits.tolist() == [4] * t.channels and (t.zero_points == 8).all()
                   for t in packed)
    total = sum(s for _, s in uploads)
    for name, t in final.items():
        mean = sum(u[name].dequantize().astype(np.float64) * (s / total) for u, s in uploads)
        np.testing.assert_allclose(t.values, mean, rtol=1e-5, atol=1e-6, err_msg=name)


def byom_sim():
    """qfleet-sim when it takes bring-your-own models (issue 26), else skip."""
    sim = bin_path("qfleet-sim")
    help_text = subprocess.run([sim, "--help"], capture_output=True, text=True).stdout
    if "--train-data" not in help_text:
        pytest.skip("this qfleet-sim has no --model / --train-data yet")
    return sim


class BnMlp(torch.nn.Module):
    def __init__(self, outputs):
        super().__init__()
        self.fc1 = torch.nn.Linear(8, 16)
        self.bn = torch.nn.BatchNorm1d(16)
        self.fc2 = torch.nn.Linear(16, outputs)

    def forward(self, x):
        return self.fc2(torch.relu(self.bn(self.fc1(x))))


BN_NAMES = ["fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "fc2.weight", "fc2.bias",
            "bn.running_mean", "bn.running_var"]


def byom_data(out, loss):
    """A BatchNorm MLP and 8-feature data saved by the package in `out`."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((360, 8)).astype(np.float32)
    score = X @ rng.standard_normal(8)
    y = np.digitize(score, [-0.5, 0.5]) if loss == "cross_entropy" else score.astype(np.float32)
    save_dataset(X[:300], y[:300], out / "train")
    save_dataset(X[300:], y[300:], out / "eval")
    torch.manual_seed(0)
    save_model(BnMlp(3 if loss == "cross_entropy" else 1), str(out / "m.pt"), torch.zeros(2, 8))


def test_byom_regression_run_is_reproduced_in_python(tmp_path):
    """A model and data saved by the package federate in qfleet-sim, and the
    exported container loaded into the module gives the run's FP32 metric."""
    sim = byom_sim()
    byom_data(tmp_path, "mse")
    run = subprocess.run(
        [sim, "--model", tmp_path / "m.pt", "--train-data", tmp_path / "train", "--eval-data",
         tmp_path / "eval", "--loss", "mse", "--metric", "mse", "--devices", "3", "--rounds",
         "2", "--seed", "1", "--json", tmp_path / "run.json", "--export-model",
         tmp_path / "out.qftc", "--quiet"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    exported = read_container(tmp_path / "out.qftc")
    assert list(exported) == BN_NAMES
    module = torch.jit.load(str(tmp_path / "m.pt"))
    load_state(module, exported)
    assert not torch.equal(module.bn.running_var, torch.ones(16))  # the statistics travelled
    with open(tmp_path / "run.json") as f:
        last = json.load(f)["rounds"][-1]
    assert last["metric"] == "mse"
    assert abs(tasks.evaluate(module, tmp_path / "eval", "mse") - last["fp32"]) < 5e-5


def test_byom_exports_reproduce_the_coordinator_s_accuracies(env, tmp_path):
    """Through the real coordinator (--model): the Python client exports the
    architecture and weights, which give the round's FP32 accuracy; the
    TorchScript module qfleetctl exports gives its served accuracy, and the
    8-bit packed container it writes, dequantized in Python, holds exactly
    the served module's weights."""
    sim = byom_sim()
    w, ctl = env["work"], os.path.join(env["bin"], "qfleetctl")
    coordinator_help = subprocess.run([os.path.join(env["bin"], "qfleet-coordinator"),
                                       "--help"], capture_output=True, text=True).stdout
    if "--eval-data" not in coordinator_help:
        pytest.skip("this qfleet-coordinator has no --model / --eval-data yet")
    byom_data(tmp_path, "cross_entropy")
    coord = Coordinator(env, "byom.db", "--open-enrollment", "--model", str(tmp_path / "m.pt"),
                        "--eval-data", str(tmp_path / "eval"))
    access = ["--tls-ca", str(w / "pki/ca.crt"), "--admin-token-file", str(w / "admin.token")]
    try:
        run = subprocess.run(
            [sim, "--coordinator", coord.address, *access, "--model", tmp_path / "m.pt",
             "--train-data", tmp_path / "train", "--eval-data", tmp_path / "eval", "--loss",
             "cross_entropy", "--metric", "accuracy", "--devices", "3", "--rounds", "2",
             "--seed", "1", "--quiet"], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        subprocess.run([ctl, "--coordinator", coord.address, *access, "models", "export", "0",
                        "--out", tmp_path / "served.pt", "--format", "torchscript", "--bits", "8",
                        "--packed-out", tmp_path / "served8.qftc"],
                       check=True, capture_output=True, timeout=60)
        with coord.client(env) as c:
            last = c.list_rounds()[-1]
            arch = c.export_architecture()
            weights = c.export_container(0)
    finally:
        coord.stop()
    assert arch == (tmp_path / "m.pt").read_bytes() and list(weights) == BN_NAMES
    module = torch.jit.load(str(tmp_path / "m.pt"))
    load_state(module, weights)
    assert abs(tasks.evaluate(module, tmp_path / "eval", "accuracy") - last.acc_fp32) < 5e-5
    served = torch.jit.load(str(tmp_path / "served.pt"))
    assert abs(tasks.evaluate(served, tmp_path / "eval", "accuracy") - last.acc_served) < 5e-5
    packed = read_container(tmp_path / "served8.qftc")
    assert packed["fc1.weight"].is_packed and (packed["fc1.weight"].bits == 8).all()
    load_state(module, packed)
    for name, value in served.named_parameters():
        assert torch.equal(value, dict(module.named_parameters())[name]), name
