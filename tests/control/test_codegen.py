"""Generated protobuf code lives outside the source tree and is rebuilt per proto hash."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from arbiter.control import codegen

REPO = Path(__file__).resolve().parents[2]


def test_generates_into_a_stamped_cache_dir(tmp_path: Path) -> None:
    env = {"ARBITER_GENERATED_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "arbiter.control.codegen"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    gen = Path(out)
    assert gen.parent == tmp_path and gen.name.startswith("control-")
    assert {"control_pb2.py", "control_pb2_grpc.py", "STAMP"} <= {p.name for p in gen.iterdir()}
    assert "from . import control_pb2" in (gen / "control_pb2_grpc.py").read_text()
    assert not list((REPO / "arbiter").rglob("control_pb2.py"))


def test_proto_root_is_the_repo_protos_dir() -> None:
    assert codegen.proto_root() == REPO / "protos"
