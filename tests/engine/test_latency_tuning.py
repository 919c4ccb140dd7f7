"""Host tuning the arbiter applies for the tick path: the PM QoS request that keeps CPUs awake."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from arbiter.app.config import ConfigError, load_config
from arbiter.engine import tuning as actors
from arbiter.sim.launcher import LocalVenues

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)


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


def test_tick_cpus_pin_every_thread_of_the_process() -> None:
    code = (
        "import os, threading, time\n"
        "from arbiter.engine.tuning import pin_threads\n"
        "ready = threading.Event()\n"
        "t = threading.Thread(target=lambda: (ready.set(), time.sleep(5)), daemon=True)\n"
        "t.start(); ready.wait()\n"
        "pin_threads((0,))\n"
        "tids = os.listdir('/proc/self/task')\n"
        "print(len(tids), sorted({c for tid in tids for c in os.sched_getaffinity(int(tid))}))\n"
        "pin_threads((4096,))\n"  # a CPU this machine lacks: a warning, not a crash
        "print('alive')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         check=True)
    lines = out.stdout.split("\n")
    threads, cpus = lines[0].split(" ", 1)
    assert int(threads) >= 2 and cpus == "[0]"
    assert lines[1] == "alive" and "cannot pin the tick path" in out.stderr


async def test_tick_cpus_setting_is_checked(venues: LocalVenues) -> None:
    assert load_config(venues.config_path).tick_cpus == ()
    text = venues.config_path.read_text()
    venues.config_path.write_text(text.replace("[engine]\n", "[engine]\ntick_cpus = [0, 1]\n", 1))
    assert load_config(venues.config_path).tick_cpus == (0, 1)
    venues.config_path.write_text(text.replace("[engine]\n", '[engine]\ntick_cpus = "0"\n', 1))
    with pytest.raises(ConfigError, match="tick_cpus"):
        load_config(venues.config_path)
