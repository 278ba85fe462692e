#!/usr/bin/env python3
"""Fails when a source file breaks qfleet's layering (docs/architecture.md).

Reads every .h/.cc/.cu/.cuh under the project folders and checks each
#include against the rules below; also fails when a project source file
(tests included) is longer than --max-lines. Prints one line per breach
("file:line: rule") and exits 1 if there is any, 0 otherwise.

  python3 tests/layering/check_layering.py [--root DIR] [--max-lines N]
  python3 tests/layering/check_layering.py --self-test

--self-test writes a small tree with one breach of each rule and checks
that every one is reported (and that a clean tree passes), so the check
itself cannot silently stop working.
"""
import argparse
import os
import re
import sys
import tempfile

SOURCE_EXT = ('.h', '.cc', '.cu', '.cuh')
# Folders whose sources are checked; tests/ and bench/ only for length.
LAYERED = ('common', 'protos', 'kernels', 'ml', 'cloud', 'device', 'sim', 'apps')
LENGTH_ONLY = ('tests', 'bench')

TORCH = re.compile(r'^(torch|ATen|c10|caffe2)/')
GRPC = re.compile(r'^(grpc|grpcpp)(/|\+\+/)|\.grpc\.pb\.h$|\.pb\.h$')
SQLITE = re.compile(r'^sqlite3\.h$')
CUDA = re.compile(r'^(cuda|cuda_runtime|cuda_runtime_api|cuda_fp16|cub|thrust|curand)([/._]|$)')


def project_dir(inc):
    """The project folder a quoted include names, or None."""
    top = inc.split('/', 1)[0]
    return top if top in LAYERED + ('tests',) else None


# Project folders each layer must never include (by the include's first
# path component; cloud/chord and ml/chord are inside their layers).
FORBIDDEN_DIRS = {
    'common': {'protos', 'kernels', 'ml', 'cloud', 'device', 'sim', 'apps', 'tests'},
    'protos': {'kernels', 'ml', 'cloud', 'device', 'sim', 'apps', 'tests'},
    'kernels': {'protos', 'ml', 'cloud', 'device', 'sim', 'apps', 'tests'},
    'ml': {'protos', 'cloud', 'device', 'sim', 'apps', 'tests'},
    'cloud': {'device', 'sim', 'apps', 'tests'},
    'device': {'cloud', 'sim', 'apps', 'tests'},
    'sim': {'tests'},
    'apps': {'tests'},
}
# What sim/ may use of apps/: the client library and the CLI helpers.
SIM_ALLOWED_APPS = {'apps/admin_client.h', 'apps/client_channel.h', 'apps/cli_util.h'}
# Third-party headers each layer must never include.
FORBIDDEN_LIBS = {
    'common': [('LibTorch', TORCH), ('gRPC/protobuf', GRPC), ('SQLite', SQLITE), ('CUDA', CUDA)],
    'kernels': [('LibTorch', TORCH), ('gRPC/protobuf', GRPC), ('SQLite', SQLITE)],
    'ml': [('gRPC/protobuf', GRPC), ('SQLite', SQLITE)],
}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def check_file(root, rel, max_lines):
    """Breaches in one file, as (rel, line, message)."""
    out = []
    layer = rel.split('/', 1)[0]
    with open(os.path.join(root, rel), encoding='utf-8', errors='replace') as f:
        lines = f.read().split('\n')
    if lines and lines[-1] == '':
        lines.pop()
    if len(lines) > max_lines:
        out.append((rel, len(lines), f'{len(lines)} lines, over the limit of {max_lines}'))
    if layer not in FORBIDDEN_DIRS:
        return out
    for no, text in enumerate(lines, 1):
        m = INCLUDE.match(text)
        if not m:
            continue
        inc = m.group(2)
        for name, pattern in FORBIDDEN_LIBS.get(layer, []):
            if pattern.search(inc):
                out.append((rel, no, f'{layer}/ must not include {name} ({inc})'))
        top = project_dir(inc) if m.group(1) == '"' else None
        if top is None or top == layer:
            continue
        if layer == 'sim' and top == 'apps':
            if inc not in SIM_ALLOWED_APPS:
                out.append((rel, no, f'sim/ may use only the client of apps/, not {inc}'))
            continue
        if top in FORBIDDEN_DIRS[layer]:
            out.append((rel, no, f'{layer}/ must not include {top}/ ({inc})'))
    return out


def check_tree(root, max_lines):
    breaches = []
    for top in LAYERED + LENGTH_ONLY:
        base = os.path.join(root, top)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith('.') and d != 'build')
            for fn in sorted(filenames):
                if fn.endswith(SOURCE_EXT):
                    rel = os.path.relpath(os.path.join(dirpath, fn), root).replace(os.sep, '/')
                    breaches += check_file(root, rel, max_lines)
    return breaches


def self_test():
    cases = {
        'common/a.h': '#include <torch/torch.h>\n',
        'common/b.h': '#include "cloud/coordinator.h"\n',
        'common/c.h': '#include <grpcpp/grpcpp.h>\n',
        'common/d.h': '#include <sqlite3.h>\n',
        'common/e.h': '#include <cuda_runtime.h>\n',
        'kernels/a.h': '#include <torch/types.h>\n',
        'kernels/b.h': '#include "cloud/model_backend.h"\n',
        'kernels/c.h': '#include "device/agent.h"\n',
        'kernels/d.h': '#include "ml/model_io.h"\n',
        'ml/a.h': '#include "cloud/plan_generator.h"\n',
        'ml/chord/b.h': '#include "device/agent.h"\n',
        'cloud/a.h': '#include "device/agent.h"\n',
        'cloud/chord/b.h': '#include "sim/chord_eval.h"\n',
        'device/a.h': '#include "cloud/coordinator.h"\n',
        'sim/a.h': '#include "apps/coordinator_main.h"\n',
        'apps/long.cc': 'int x;\n' * 7,
    }
    clean = {
        'common/ok.h': '#include <vector>\n#include "absl/status/status.h"\n#include "common/tensor.h"\n',
        'kernels/ok.cu': '#include <cuda_runtime.h>\n#include "kernels/quant_math.h"\n',
        'ml/ok.h': '#include <torch/torch.h>\n#include "kernels/fedavg.h"\n#include "common/tensor.h"\n',
        'cloud/ok.h': '#include "ml/model_io.h"\n#include "cloud/chord/chord_model.h"\n',
        'device/ok.h': '#include "ml/chord/chord_device.h"\n',
        'sim/ok.h': '#include "cloud/coordinator.h"\n#include "device/agent.h"\n#include "apps/admin_client.h"\n',
    }
    with tempfile.TemporaryDirectory() as root:
        for files in (clean,):
            for rel, text in files.items():
                os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
                with open(os.path.join(root, rel), 'w') as f:
                    f.write(text)
        if check_tree(root, 6):
            print('self-test: a clean tree was reported:', check_tree(root, 6))
            return 1
        for rel, text in cases.items():
            os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
            with open(os.path.join(root, rel), 'w') as f:
                f.write(text)
        found = {b[0] for b in check_tree(root, 6)}
        missed = sorted(set(cases) - found)
        extra = sorted(found - set(cases))
        if missed or extra:
            print('self-test: missed', missed, 'wrongly reported', extra)
            return 1
    print(f'self-test: all {len(cases)} breaches reported, clean tree passes')
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--root', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
    ap.add_argument('--max-lines', type=int, default=600)
    ap.add_argument('--self-test', action='store_true')
    a = ap.parse_args()
    if a.self_test:
        return self_test()
    breaches = check_tree(os.path.abspath(a.root), a.max_lines)
    for rel, no, msg in breaches:
        print(f'{rel}:{no}: {msg}')
    if breaches:
        print(f'{len(breaches)} layering breach(es); rules in docs/architecture.md')
        return 1
    print('layering: clean')
    return 0


if __name__ == '__main__':
    sys.exit(main())
