"""The compiled hot core and its pure fallback (arbiter.core.native, ADR 0155).

The scenario runs in two interpreters, one per build, and must give the same digests; the
loader must pick the compiled core only for the sources it was built from, wherever they are
imported from (an installed package, a ``ray job submit --working-dir .`` upload first on
``sys.path``), never an in-place ``.so``, and objects must pickle between the two builds.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import pickle
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

import arbiter.core.native as native
from arbiter.core import compiled
from arbiter.core.book import Outcome
from arbiter.core.detection import DetectionConfig, Leg, Opportunity
from arbiter.core.fees import KALSHI_DEFAULT_FEES, KalshiFeeModel, NoFees, PolymarketFeeModel
from arbiter.core.pairs import Pair
from arbiter.core.price_grid import PriceGrid
from arbiter.core.sizing import SizeChoice

REPO = Path(__file__).resolve().parents[2]
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]
#: in CI (CI=true) the compiled core must be what `make test` runs, not a silent fallback
IN_CI = bool(os.environ.get("CI"))
PURE_HERE = os.environ.get(native.PURE_ENV, "").strip() not in ("", "0")


def _env(pure: bool, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (native.PURE_ENV, native.NATIVE_DIR_ENV)}
    if pure:
        env[native.PURE_ENV] = "1"
    env.update(extra)
    return env


def _python(code: str, env: dict[str, str], cwd: Path = REPO) -> Any:
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


_PROBE = ("import json, arbiter.core as c, arbiter.core.detection as d, arbiter.core.pairs as p; "
          "print(json.dumps({**c.compiled().as_dict(), 'detection': d.__spec__.origin, "
          "'pairs': p.__file__, 'package': c.__file__}))")


def _built_core() -> Path:
    """The compiled core the default interpreter would import, or a skip/fail saying why."""
    info = _python(_PROBE, _env(pure=False))
    if not info["compiled"]:
        message = f"no usable compiled core: {info['reason']}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return Path(info["location"])


def test_the_hot_modules_come_from_the_reported_build() -> None:
    state = compiled()
    for name in native.HOT_MODULES:
        module = sys.modules.get(f"arbiter.core.{name}") or __import__(f"arbiter.core.{name}")
        origin = sys.modules[f"arbiter.core.{name}"].__spec__.origin  # type: ignore[union-attr]
        assert origin is not None and module is not None
        if state.compiled:  # mypyc names the modules its group's init loads under its own path
            assert origin.startswith(str(state.location)) and origin.endswith(SUFFIX)
        else:
            assert origin == str(REPO / "arbiter" / "core" / f"{name}.py")
    if IN_CI and not PURE_HERE:
        assert state.compiled, state.reason
    assert "core: " in state.describe()


def test_pure_and_compiled_give_identical_results() -> None:
    _built_core()
    code = "import sys; from tests.core.native_scenario import main; sys.exit(main(['20000', '10000']))"
    compiled_run = _python(code, _env(pure=False))
    pure_run = _python(code, _env(pure=True))
    assert compiled_run.pop("core")["compiled"] is True
    assert pure_run.pop("core")["reason"] == f"{native.PURE_ENV}=1"
    assert pure_run["detection"]["opportunities"] > 10 and pure_run["backtest"]["sagas"] > 10
    assert compiled_run == pure_run


def test_objects_pickle_between_the_builds() -> None:
    """Ray may carry an opportunity from a compiled process to a pure one and back."""
    objects = [
        Opportunity("p", "kalshi_yes_poly_no", 5, (
            Leg("kalshi", "KX", Outcome.YES, 4000, 1, 2, 3),
            Leg("polymarket", "T", Outcome.NO, 5000, 4, 5, 6, 5_000_000, 100)), 5, 7, 9, 11),
        DetectionConfig(min_edge=3, max_contracts=10), KalshiFeeModel(Fraction(3, 2)),
        PolymarketFeeModel.of("0.0625", 2), KALSHI_DEFAULT_FEES, NoFees(),
        PriceGrid.uniform(100), SizeChoice(1, 2, 3, 4, 5, 6, 7, 8, 9),
        Pair("pair-1", "KX-1", "1", "2", polymarket_fee=PolymarketFeeModel.of("0.04", 1)),
    ]
    blob = pickle.dumps(objects).hex()
    code = ("import pickle, sys, json; objs = pickle.loads(bytes.fromhex(sys.argv[1])); "
            "print(json.dumps([pickle.dumps(objs).hex(), [repr(o) for o in objs]]))")
    for pure in (True, False):
        out = subprocess.run([sys.executable, "-c", code, blob], cwd=REPO, env=_env(pure),
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-3000:]
        back, reprs = json.loads(out.stdout.strip().splitlines()[-1])
        assert reprs == [repr(o) for o in objects]
        assert pickle.loads(bytes.fromhex(back)) == objects


def _upload(tmp_path: Path) -> Path:
    """A copy of the tree as ``ray job submit --working-dir .`` unpacks it: sources only."""
    root = tmp_path / "upload"
    shutil.copytree(REPO / "arbiter", root / "arbiter",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    return root


def test_an_upload_of_the_same_sources_runs_the_installed_compiled_core(tmp_path: Path) -> None:
    location = _built_core()
    root = _upload(tmp_path)
    info = _python(_PROBE, _env(pure=False), cwd=root)  # cwd first on sys.path, as in a job
    assert info["package"] == str(root / "arbiter" / "core" / "__init__.py")
    assert info["pairs"] == str(root / "arbiter" / "core" / "pairs.py")
    assert info["compiled"] and info["detection"] == str(location / f"detection{SUFFIX}")


def test_an_upload_with_edited_sources_runs_them_pure_and_says_why(tmp_path: Path) -> None:
    _built_core()
    root = _upload(tmp_path)
    with (root / "arbiter" / "core" / "detection.py").open("a") as f:
        f.write("\nEDITED = True\n")
    info = _python(_PROBE, _env(pure=False), cwd=root)
    assert not info["compiled"]
    assert "detection.py" in info["reason"] and "make venv" in info["reason"]
    assert info["detection"] == str(root / "arbiter" / "core" / "detection.py")


def test_an_in_place_extension_is_never_imported(tmp_path: Path) -> None:
    root = _upload(tmp_path)
    for name in native.HOT_MODULES:  # would crash the import if it were ever loaded
        (root / "arbiter" / "core" / f"{name}{SUFFIX}").write_bytes(b"not an ELF file")
    for pure in (True, False):
        info = _python(_PROBE, _env(pure), cwd=root)
        assert info["detection"].endswith(("detection.py", f"arbiter_core_native/detection{SUFFIX}"))


def test_a_compiled_core_that_fails_to_load_falls_back_to_pure(tmp_path: Path) -> None:
    location = _built_core()
    broken = tmp_path / "native"
    shutil.copytree(location, broken)
    (broken / f"{native.shared_library()}{SUFFIX}").write_bytes(b"damaged")
    info = _python(_PROBE, _env(pure=False, **{native.NATIVE_DIR_ENV: str(broken)}))
    assert not info["compiled"] and "failed to load" in info["reason"]
    assert info["detection"].endswith("arbiter/core/detection.py")


def test_a_core_built_for_another_interpreter_is_refused(tmp_path: Path) -> None:
    location = _built_core()
    other = tmp_path / "native"
    shutil.copytree(location, other)
    manifest = json.loads((other / native.MANIFEST).read_text())
    manifest["interpreter"] = "cpython-399-x86_64-linux-gnu.so"
    (other / native.MANIFEST).write_text(json.dumps(manifest))
    info = _python(_PROBE, _env(pure=False, **{native.NATIVE_DIR_ENV: str(other)}))
    assert not info["compiled"] and "cpython-399" in info["reason"]


def test_check_says_whether_the_build_is_current(tmp_path: Path) -> None:
    location = _built_core()
    from arbiter.compile_core import main

    assert main(["--check", "--dest", str(location)]) == 0
    assert main(["--check", "--dest", str(tmp_path / "none")]) == 1


def test_a_failed_build_may_leave_the_tree_pure_except_in_ci(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from arbiter.compile_core import main

    args = ["--allow-pure", "--source", str(tmp_path / "missing"), "--dest", str(tmp_path / "out"),
            "--stamp", str(tmp_path / "stamp")]
    monkeypatch.delenv("CI", raising=False)
    assert main(args) == 0
    assert "runs the pure sources" in capsys.readouterr().err
    assert not (tmp_path / "stamp").exists() and not (tmp_path / "out").exists()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(OSError):
        main(args)


def test_version_names_the_build() -> None:
    from arbiter.cli.main import version_text

    lines = version_text().splitlines()
    assert lines[0].startswith("arbiter ") and lines[1] == compiled().describe()


@pytest.mark.slow
def test_the_core_suites_pass_on_the_pure_sources() -> None:
    """`make test` runs the suite on the compiled core; this runs the core and backtest
    suites again on the pure sources, so CI exercises both builds."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow",
         "tests/core", "tests/backtest", "--deselect",
         "tests/core/test_native.py::test_the_core_suites_pass_on_the_pure_sources"],
        cwd=REPO, env=_env(pure=True), capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-4000:]
