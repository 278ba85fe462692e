"""AdminClient against an in-process Python AdminService over TLS: the
token metadata, deadlines, export checks and error mapping, without the C++
coordinator (test_cross_language.py runs it against the real one)."""
import hashlib
import subprocess
from concurrent import futures

import grpc
import numpy as np
import pytest

from qfleet.client import AdminClient, AdminError, read_token_file
from qfleet.container import Tensor, encode_container
from qfleet.crc32c import crc32c
from qfleet.errors import ChecksumError
from qfleet.plan import PrecisionPlan, encode_plan
from qfleet._protos import load_admin

pb, pb_grpc = load_admin()
TOKEN = "s3cret-token"
MODEL = encode_container([Tensor.from_array("w", np.arange(300, dtype=np.float32))])
ARCH = b"PK\x03\x04 a TorchScript archive" * 40


class FakeAdmin(pb_grpc.AdminServiceServicer):
    def __init__(self):
        self.configs, self.deadlines, self.corrupt = [], [], None

    def _check(self, context):
        self.deadlines.append(context.time_remaining())
        if dict(context.invocation_metadata()).get("authorization") != f"Bearer {TOKEN}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong admin token")

    def ListDevices(self, request, context):
        self._check(context)
        return pb.ListDevicesResponse(devices=[pb.DeviceInfo(device_id=1, name="a"),
                                               pb.DeviceInfo(device_id=2, name="b")])

    def ListRounds(self, request, context):
        self._check(context)
        return pb.ListRoundsResponse(rounds=[pb.RoundInfo(round=1, state="done", acc_fp32=0.5)])

    def GetStatus(self, request, context):
        self._check(context)
        return pb.StatusResponse(devices=2, latest_model_version=3)

    def GetPlan(self, request, context):
        self._check(context)
        plan = PrecisionPlan(7, ["fc"], [3], [0, 3, 1])
        return pb.GetPlanResponse(device_id=request.device_id, plan_version=7,
                                  plan=encode_plan(plan) if request.device_id == 1 else b"")

    def StartRounds(self, request, context):
        self._check(context)
        self.configs.append(request.config)
        return pb.StartRoundsResponse(first_round=4, last_round=3 + request.config.rounds)

    def ExportModel(self, request, context):
        self._check(context)
        blob = ARCH if getattr(request, "architecture", False) else MODEL
        sha = hashlib.sha256(blob).hexdigest()
        for offset in range(0, len(blob), 500):
            data = blob[offset:offset + 500]
            crc = crc32c(data)
            if self.corrupt == "chunk" and offset > 0:
                crc ^= 1
            yield pb.ExportModelChunk(version=3, offset=offset, data=data, crc32c=crc,
                                      total_bytes=len(blob),
                                      sha256="0" * 64 if self.corrupt == "sha" else sha)


@pytest.fixture(scope="module")
def pki(tmp_path_factory, repo):
    out = tmp_path_factory.mktemp("pki")
    subprocess.run(["bash", f"{repo}/deploy/gen-certs.sh", str(out)], check=True,
                   capture_output=True)
    (out / "admin.token").write_text(f"  {TOKEN}\n")
    return out


@pytest.fixture(scope="module")
def server(pki):
    fake = FakeAdmin()
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_AdminServiceServicer_to_server(fake, srv)
    creds = grpc.ssl_server_credentials([((pki / "server.key").read_bytes(),
                                          (pki / "server.crt").read_bytes())])
    port = srv.add_secure_port("127.0.0.1:0", creds)
    srv.start()
    yield fake, f"127.0.0.1:{port}"
    srv.stop(None)


def client(server, pki, **kw):
    kw.setdefault("admin_token_file", str(pki / "admin.token"))
    return AdminClient(server[1], ca_file=str(pki / "ca.crt"), timeout_s=3.0, **kw)


def test_calls_carry_the_token_and_a_deadline(server, pki):
    fake, _ = server
    with client(server, pki) as c:
        assert [d.name for d in c.list_devices()] == ["a", "b"]
        assert c.list_rounds()[0].acc_fp32 == 0.5
        assert c.status().latest_model_version == 3
    assert fake.deadlines[-1] is not None and 0 < fake.deadlines[-1] < 3.5


def test_a_wrong_or_missing_token_is_unauthenticated(server, pki):
    for kw in ({"admin_token": "wrong", "admin_token_file": None}, {"admin_token_file": None}):
        with client(server, pki, **kw) as c, pytest.raises(AdminError) as e:
            c.list_devices()
        assert e.value.code == grpc.StatusCode.UNAUTHENTICATED
        assert "ListDevices: UNAUTHENTICATED: missing or wrong admin token" == str(e.value)


def test_a_plaintext_client_cannot_reach_a_tls_server(server):
    with AdminClient(server[1], insecure=True, admin_token=TOKEN, timeout_s=1.0) as c, \
            pytest.raises(AdminError) as e:
        c.list_devices()
    assert e.value.code == grpc.StatusCode.UNAVAILABLE


def test_start_rounds_sends_the_config(server, pki):
    fake, _ = server
    with client(server, pki) as c:
        assert c.start_rounds(rounds=5, strategy="ptq", weight_bits=4, learning_rate=0.1,
                              eval_methods=["fp32"]) == (4, 8)
        with pytest.raises(ValueError, match="unknown campaign field.*bogus.*the fields are"):
            c.start_rounds(rounds=1, bogus=2)
    sent = fake.configs[-1]
    assert (sent.rounds, sent.strategy, sent.weight_bits) == (5, "ptq", 4)
    assert abs(sent.learning_rate - 0.1) < 1e-7 and list(sent.eval_methods) == ["fp32"]


def test_export_checks_every_chunk_and_the_whole(server, pki):
    fake, _ = server
    with client(server, pki) as c:
        data, version = c.export_model()
        assert data == MODEL and version == 3
        assert c.export_container()["w"].values[299] == 299
        for mode, message in (("chunk", "bad export chunk at offset 500"),
                              ("sha", "SHA-256")):
            fake.corrupt = mode
            try:
                with pytest.raises(ChecksumError, match=message):
                    c.export_model()
            finally:
                fake.corrupt = None


def test_export_architecture_needs_the_field(server, pki):
    with client(server, pki) as c:
        if "architecture" in pb.ExportModelRequest.DESCRIPTOR.fields_by_name:
            assert c.export_architecture() == ARCH
        else:
            with pytest.raises(NotImplementedError, match="no ExportModelRequest.architecture"):
                c.export_architecture()


def test_get_plan_decodes_the_plan(server, pki):
    with client(server, pki) as c:
        response, plan = c.get_plan(1)
        assert response.plan_version == 7 and plan.codes.tolist() == [0, 3, 1]
        assert c.get_plan(2)[1] is None


def test_bad_arguments(pki, tmp_path):
    empty = tmp_path / "empty.token"
    empty.write_text(" \n")
    with pytest.raises(ValueError, match="is empty"):
        read_token_file(str(empty))
    with pytest.raises(ValueError, match="No such file"):
        AdminClient("x:1", admin_token_file=str(tmp_path / "none"))
    with pytest.raises(ValueError, match="insecure cannot be combined"):
        AdminClient("x:1", insecure=True, ca_file=str(pki / "ca.crt"))
    with pytest.raises(ValueError, match="go together"):
        AdminClient("x:1", cert_file=str(pki / "client.crt"))
    with pytest.raises(ValueError, match="not PEM"):
        AdminClient("x:1", ca_file=str(pki / "admin.token"))


def test_any_method_by_name(server, pki):
    with client(server, pki) as c:
        assert c.call("GetStatus", c.pb.StatusRequest()).devices == 2
        with pytest.raises(AdminError) as e:
            c.call("DrainDevice", c.pb.DrainDeviceRequest(device_id=1))
        assert e.value.code == grpc.StatusCode.UNIMPLEMENTED
