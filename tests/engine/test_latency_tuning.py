"""Host tuning the arbiter applies for the tick path: the PM QoS request that keeps CPUs awake."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from arbiter.engine import actors


def test_the_qos_request_is_a_zero_latency_held_open_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(actors, "_CPU_QOS_FD", None)
    device = tmp_path / "cpu_dma_latency"
    device.write_bytes(b"")
    assert actors.hold_cpus_awake(str(device))
    fd = actors._CPU_QOS_FD
    assert fd is not None
    try:
        assert device.read_bytes() == struct.pack("i", 0)  # 0 µs: poll, never halt
        os.fstat(fd)  # still open: the kernel drops the request when the descriptor closes
        assert actors.hold_cpus_awake(str(device))  # a second call makes no second request
        assert device.read_bytes() == struct.pack("i", 0)
    finally:
        os.close(fd)


def test_without_the_device_the_engine_runs_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(actors, "_CPU_QOS_FD", None)
    assert not actors.hold_cpus_awake(str(tmp_path / "missing" / "cpu_dma_latency"))
    assert actors._CPU_QOS_FD is None
    assert "cannot hold CPUs out of idle states" in caplog.text
