"""A client of the coordinator's AdminService (protos/qfleet/admin/v1/admin.proto).

It reaches the coordinator as qfleetctl does (apps/client_channel.h,
apps/admin_client.h): TLS checked against a CA (the system's roots when
none is given), optionally a client certificate for mutual TLS, or
plaintext with insecure=True for a coordinator run with --insecure; every
call has a deadline and, with an admin token, carries the metadata
"authorization: Bearer <token>". Responses are the generated protobuf
messages. A failed call raises AdminError with the gRPC status code.
"""
import hashlib

import grpc

from ._protos import load_admin
from .container import decode_container
from .crc32c import crc32c
from .errors import ChecksumError
from .plan import decode_plan


class AdminError(RuntimeError):
    """A failed admin call: `code` is the grpc.StatusCode, `details` the
    coordinator's reason (UNAUTHENTICATED: missing or wrong admin token;
    PERMISSION_DENIED: the coordinator has no admin token configured;
    UNAVAILABLE / DEADLINE_EXCEEDED: it cannot be reached)."""

    def __init__(self, method, code, details):
        super().__init__(f"{method}: {code.name}: {details}")
        self.method, self.code, self.details = method, code, details


def _read(path, what):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ValueError(f"{what} '{path}': {e.strerror}") from None


def read_token_file(path):
    """The token in `path` without surrounding whitespace; ValueError if empty."""
    token = _read(path, "admin token file").decode("utf-8", "replace").strip()
    if not token:
        raise ValueError(f"token file '{path}' is empty")
    return token


def make_channel(target, insecure=False, ca_file=None, cert_file=None, key_file=None):
    """A channel to host:port with TLS (or plaintext when `insecure`).
    ValueError for insecure with TLS files, a certificate without its key
    (or the reverse) or an unreadable or non-PEM file."""
    options = [("grpc.max_receive_message_length", 8 << 20),
               ("grpc.use_local_subchannel_pool", 1)]
    if insecure:
        if ca_file or cert_file or key_file:
            raise ValueError("insecure cannot be combined with TLS files")
        return grpc.insecure_channel(target, options=options)
    if bool(cert_file) != bool(key_file):
        raise ValueError("a client certificate and its key go together")
    pems = {}
    for what, path in (("CA", ca_file), ("certificate", cert_file), ("key", key_file)):
        if path:
            pems[what] = _read(path, f"TLS {what} file")
            if b"-----BEGIN " not in pems[what]:
                raise ValueError(f"TLS {what} file '{path}' is not PEM")
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pems.get("CA"), private_key=pems.get("key"),
        certificate_chain=pems.get("certificate"))
    return grpc.secure_channel(target, credentials, options=options)


class AdminClient:
    """AdminService calls with a deadline of `timeout_s` each (exports get
    12 times that, as qfleetctl's). Thread-safe (gRPC stubs are)."""

    def __init__(self, target, *, insecure=False, ca_file=None, cert_file=None,
                 key_file=None, admin_token=None, admin_token_file=None, timeout_s=5.0):
        if admin_token and admin_token_file:
            raise ValueError("give admin_token or admin_token_file, not both")
        if admin_token_file:
            admin_token = read_token_file(admin_token_file)
        if timeout_s <= 0:
            raise ValueError(f"timeout_s {timeout_s} must be > 0")
        self.pb, grpc_mod = load_admin()
        self.target = target
        self.channel = make_channel(target, insecure, ca_file, cert_file, key_file)
        self.stub = grpc_mod.AdminServiceStub(self.channel)
        self.timeout_s = timeout_s
        self._metadata = (("authorization", f"Bearer {admin_token}"),) if admin_token else ()

    def close(self):
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def call(self, method, request):
        """Any AdminService method by name (e.g. "DrainDevice") with its request
        message (built from client.pb); AdminError when it fails."""
        try:
            return getattr(self.stub, method)(request, timeout=self.timeout_s,
                                              metadata=self._metadata)
        except grpc.RpcError as e:
            raise AdminError(method, e.code(), e.details()) from None

    def wait_connected(self):
        """Waits up to timeout_s for the channel; AdminError UNAVAILABLE otherwise."""
        try:
            grpc.channel_ready_future(self.channel).result(timeout=self.timeout_s)
        except grpc.FutureTimeoutError:
            raise AdminError("connect", grpc.StatusCode.UNAVAILABLE,
                             f"no connection to {self.target} within {self.timeout_s} s") from None

    def list_devices(self):
        return list(self.call("ListDevices", self.pb.ListDevicesRequest()).devices)

    def get_device(self, device_id):
        return self.call("GetDevice", self.pb.GetDeviceRequest(device_id=device_id)).device

    def list_rounds(self):
        return list(self.call("ListRounds", self.pb.ListRoundsRequest()).rounds)

    def get_round(self, round_number):
        return self.call("GetRound", self.pb.GetRoundRequest(round=round_number))

    def status(self):
        return self.call("GetStatus", self.pb.StatusRequest())

    def get_plan(self, device_id):
        """(GetPlanResponse, decoded PrecisionPlan or None when it has none)."""
        response = self.call("GetPlan", self.pb.GetPlanRequest(device_id=device_id))
        return response, (decode_plan(response.plan) if response.plan else None)

    def campaign_config(self, **fields):
        """A CampaignConfig from keyword fields; ValueError naming an unknown
        field (the valid ones are listed)."""
        names = set(self.pb.CampaignConfig.DESCRIPTOR.fields_by_name)
        unknown = sorted(set(fields) - names)
        if unknown:
            raise ValueError(f"unknown campaign field(s) {', '.join(unknown)}; the fields are "
                             + ", ".join(sorted(names)))
        config = self.pb.CampaignConfig()
        for name, value in fields.items():
            target = getattr(config, name)
            if hasattr(target, "extend"):
                target.extend(value)
            elif hasattr(target, "CopyFrom"):
                target.CopyFrom(value)
            else:
                setattr(config, name, value)
        return config

    def start_rounds(self, config=None, **fields):
        """Starts a campaign (a CampaignConfig, or its fields as keywords);
        returns (first_round, last_round)."""
        if config is not None and fields:
            raise ValueError("give a CampaignConfig or keyword fields, not both")
        if config is None:
            config = self.campaign_config(**fields)
        r = self.call("StartRounds", self.pb.StartRoundsRequest(config=config))
        return r.first_round, r.last_round

    def cancel_round(self, round_number, reason=""):
        return self.call("CancelRound", self.pb.CancelRoundRequest(
            round=round_number, reason=reason)).round

    def _export(self, request):
        method = "ExportModel"
        data, total, sha, version = bytearray(), None, "", 0
        try:
            for chunk in self.stub.ExportModel(request, timeout=self.timeout_s * 12,
                                               metadata=self._metadata):
                if chunk.offset != len(data) or crc32c(chunk.data) != chunk.crc32c:
                    raise ChecksumError(f"bad export chunk at offset {chunk.offset} "
                                        f"(expected offset {len(data)}, or its crc32c differs)")
                total, sha, version = chunk.total_bytes, chunk.sha256, chunk.version
                data += chunk.data
        except grpc.RpcError as e:
            raise AdminError(method, e.code(), e.details()) from None
        if total is None or len(data) != total or hashlib.sha256(data).hexdigest() != sha:
            raise ChecksumError(f"exported bytes fail their size or SHA-256 check "
                                f"({len(data)} bytes, announced {total})")
        return bytes(data), version

    def export_model(self, version=0):
        """(container bytes, version) of a model version (0 = latest), every
        chunk's CRC-32C and the whole's SHA-256 checked (ChecksumError)."""
        return self._export(self.pb.ExportModelRequest(version=version))

    def export_container(self, version=0):
        """export_model decoded: dict name -> Tensor."""
        data, _ = self.export_model(version)
        return decode_container(data)

    def export_architecture(self):
        """The TorchScript bytes the coordinator serves (--model FILE.pt).
        NotImplementedError when this admin.proto predates the field."""
        if "architecture" not in self.pb.ExportModelRequest.DESCRIPTOR.fields_by_name:
            raise NotImplementedError("this admin.proto has no ExportModelRequest.architecture")
        data, _ = self._export(self.pb.ExportModelRequest(architecture=True))
        return data
