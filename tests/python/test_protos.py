"""The admin API's Python code is generated from protos/ and regenerated
exactly when the proto changes."""
import os
import shutil

import pytest

from qfleet import _protos

GENERATED = os.path.join("qfleet", "admin", "v1", "admin_pb2.py")


def test_generated_once_and_again_when_the_proto_changes(tmp_path, repo, monkeypatch):
    protos = tmp_path / "protos"
    shutil.copytree(os.path.join(repo, "protos", "qfleet"), protos / "qfleet")
    monkeypatch.setenv("QFLEET_PROTO_ROOT", str(protos))
    out = tmp_path / "gen"
    assert _protos.generate(str(out)) == str(out)
    generated = out / GENERATED
    assert generated.exists() and (out / "qfleet/admin/v1/admin_pb2_grpc.py").exists()
    stamp = generated.stat().st_mtime_ns
    _protos.generate(str(out))
    assert generated.stat().st_mtime_ns == stamp  # current: left alone

    proto = protos / _protos.ADMIN_PROTO
    proto.write_text(proto.read_text().replace(
        "message StatusRequest {}", "message StatusRequest { uint32 python_probe = 1; }"))
    _protos.generate(str(out))
    assert "python_probe" in (out / GENERATED).read_text()


def test_a_missing_proto_is_a_clear_import_error(tmp_path, monkeypatch):
    monkeypatch.setenv("QFLEET_PROTO_ROOT", str(tmp_path / "nowhere"))
    with pytest.raises(ImportError, match="cannot read .*admin.proto.*QFLEET_PROTO_ROOT"):
        _protos.generate(str(tmp_path / "gen"))


def test_a_bad_proto_names_protoc_s_complaint(tmp_path, monkeypatch):
    proto = tmp_path / "protos" / _protos.ADMIN_PROTO
    proto.parent.mkdir(parents=True)
    proto.write_text('syntax = "proto3"; message {')
    monkeypatch.setenv("QFLEET_PROTO_ROOT", str(tmp_path / "protos"))
    with pytest.raises(ImportError, match="protoc failed"):
        _protos.generate(str(tmp_path / "gen"))
    assert not (tmp_path / "gen").exists()
