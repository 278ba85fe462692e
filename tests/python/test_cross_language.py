"""The Python formats and admin client against the C++ programs.

C++ -> Python: the coordinator's model v1 (exported through the admin API
with TLS and the admin token, and its blob file) and the PTQ updates a
simulated round stores (packed 4-bit containers) are read by Python.
Python -> C++: a container written by Python (FP32 and packed tensors) is
the coordinator's --initial-model; the coordinator decodes, validates and
re-encodes it, and what it exports must be Python's bytes exactly.
Needs QFLEET_BIN_DIR (set by CTest) and Fashion-MNIST; skips otherwise.
"""
import gzip
import hashlib
import os
import re
import sqlite3
import struct
import subprocess
import time

import grpc
import numpy as np
import pytest

from conftest import FMNIST_DIR, bin_path
from qfleet.client import AdminClient, AdminError
from qfleet.container import Tensor, decode_container, encode_container, read_container

TOKEN = "cross-language-token"


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
