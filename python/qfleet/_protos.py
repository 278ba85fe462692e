"""The generated admin API (protos/qfleet/admin/v1/admin.proto) for Python.

Generated code is never committed: it is written by protoc and
grpc_python_plugin (Debian: protobuf-compiler, protobuf-compiler-grpc) into
a folder holding qfleet/admin/v1/admin_pb2{,_grpc}.py plus a stamp with the
proto's SHA-256, and regenerated whenever the proto changes. The folder is
$QFLEET_PROTO_GEN_DIR, else python/.gen next to this package. The generated
modules import each other as qfleet.admin.v1.*, so the folder's qfleet/ is
added to this package's __path__.

    python3 -m qfleet._protos [OUT_DIR]   # generate now
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

import qfleet

_PY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_REPO = os.path.dirname(_PY_ROOT)
ADMIN_PROTO = "qfleet/admin/v1/admin.proto"
_STAMP = "admin_proto.sha256"


def proto_root():
    """The protos/ folder: $QFLEET_PROTO_ROOT, else the repository's."""
    return os.environ.get("QFLEET_PROTO_ROOT") or os.path.join(_REPO, "protos")


def gen_dir():
    return os.environ.get("QFLEET_PROTO_GEN_DIR") or os.path.join(_PY_ROOT, ".gen")


def _proto_sha256():
    path = os.path.join(proto_root(), ADMIN_PROTO)
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError as e:
        raise ImportError(f"qfleet admin client: cannot read {path} ({e.strerror}); set "
                          "QFLEET_PROTO_ROOT to the repository's protos/ folder") from None


def _current(out, sha):
    try:
        with open(os.path.join(out, _STAMP)) as f:
            return f.read().strip() == sha
    except OSError:
        return False


def generate(out=None):
    """Writes the admin modules into `out` (default gen_dir()) unless they are
    current; returns the folder. ImportError naming what is missing."""
    out = out or gen_dir()
    sha = _proto_sha256()
    if _current(out, sha):
        return out
    protoc = shutil.which("protoc")
    plugin = shutil.which("grpc_python_plugin")
    if not protoc or not plugin:
        raise ImportError("qfleet admin client: the generated code is missing or stale and "
                          "protoc / grpc_python_plugin are not installed (Debian: apt-get "
                          "install protobuf-compiler protobuf-compiler-grpc)")
    os.makedirs(os.path.dirname(os.path.abspath(out)) or ".", exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".gen-", dir=os.path.dirname(os.path.abspath(out)))
    try:
        root = proto_root()
        cmd = [protoc, f"--proto_path={root}", f"--python_out={tmp}",
               f"--grpc_python_out={tmp}", f"--plugin=protoc-gen-grpc_python={plugin}",
               os.path.join(root, ADMIN_PROTO)]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            raise ImportError(f"protoc failed on {ADMIN_PROTO}: {run.stderr.strip()}")
        with open(os.path.join(tmp, _STAMP), "w") as f:
            f.write(sha + "\n")
        if os.path.isdir(out):
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
    return out


def load_admin():
    """(admin_pb2, admin_pb2_grpc), generating them first if needed."""
    root = os.path.join(generate(), "qfleet")
    if root not in qfleet.__path__:
        qfleet.__path__.append(root)
    from qfleet.admin.v1 import admin_pb2, admin_pb2_grpc  # noqa: E402 (generated)
    return admin_pb2, admin_pb2_grpc


if __name__ == "__main__":
    print(generate(sys.argv[1] if len(sys.argv) > 1 else None))
