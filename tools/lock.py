"""The lock files: what every `make` venv installs, and the check that they match pyproject.toml.

pyproject.toml keeps *ranges* (library users resolve them against their own environment); the
venvs this repository builds install exact versions with hashes from ``requirements/*.lock``,
so a fresh clone next month runs the same ruff, mypy, msgspec and Ray as CI did today
(ADR 0100). Each lock carries, in its header, the SHA-256 of the requirement lines it was
resolved from; ``check`` recomputes it from pyproject.toml and also checks that every input
requirement is pinned in the lock to a version its range admits, so an edited pyproject.toml
without ``make lock`` fails the suite (tests/infra/test_lock.py) and ``make venv``.

    python -m tools.lock            # re-resolve every lock (needs uv, from the dev lock)
    python -m tools.lock --check    # exit 1 and say which lock is stale

Stdlib only for ``--check`` (it runs before any venv exists); ``packaging`` is used when present
to evaluate version ranges.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK_DIR = ROOT / "requirements"
DIGEST_PREFIX = "# inputs-sha256: "
# The interpreter the locks are resolved for: the lowest one pyproject.toml admits, resolved
# universally (markers) so 3.12/3.13 and aarch64 install from the same file.
PYTHON_VERSION = "3.11"


@dataclass(frozen=True)
class Environment:
    """One venv this repository builds and the pyproject.toml groups it installs."""

    name: str
    runtime: bool  # the project's own dependencies
    extras: tuple[str, ...]
    build: bool  # [build-system].requires, so `pip install --no-build-isolation -e .` works
    purpose: str
    python: str = PYTHON_VERSION  # the lowest interpreter the lock is resolved for

    @property
    def lock(self) -> Path:
        return LOCK_DIR / f"{self.name}.lock"


ENVIRONMENTS = (
    Environment("dev", True, ("dev", "docs"), True,
                ".venv: make test, make lint, make demo, make docs, make bench"),
    Environment("infra", False, ("infra",), False,
                ".venv-infra: checkov (its pins clash with the product's)"),
    Environment("kalshi-sdk", False, ("kalshi-sdk",), False,
                ".venv-kalshi-sdk: the current Kalshi SDK, Python >= 3.13 only", python="3.13"),
)


def _pyproject(path: Path) -> dict[str, object]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def inputs(env: Environment, pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The requirement lines ``env`` is resolved from, in pyproject.toml's order."""
    data = _pyproject(pyproject)
    project = data["project"]
    assert isinstance(project, dict)
    lines: list[str] = []
    if env.runtime:
        lines += list(project["dependencies"])
    extras = project.get("optional-dependencies", {})
    for extra in env.extras:
        if extra not in extras:
            raise KeyError(f"pyproject.toml has no optional-dependencies group {extra!r}")
        lines += list(extras[extra])
    if env.build:
        build = data["build-system"]
        assert isinstance(build, dict)
        lines += list(build["requires"])
    return lines


def digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, list[tuple[str, str | None]]]:
    """``name -> [(version, marker)]`` for every pinned line of a lock file."""
    found: dict[str, list[tuple[str, str | None]]] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            found.setdefault(_canonical(match.group(1)), []).append(
                (match.group(2), match.group(3)))
    return found


def problems(env: Environment, pyproject: Path = ROOT / "pyproject.toml",
             lock: Path | None = None) -> list[str]:
    """Why ``env``'s lock does not match pyproject.toml (empty when it does)."""
    lock = lock or env.lock
    if not lock.exists():
        return [f"{lock.name}: missing; run `make lock`"]
    wanted = inputs(env, pyproject)
    text = lock.read_text(encoding="utf-8")
    out: list[str] = []
    header = next((ln for ln in text.splitlines() if ln.startswith(DIGEST_PREFIX)), None)
    if header is None or header[len(DIGEST_PREFIX):].strip() != digest(wanted):
        out.append(f"{lock.name}: resolved from other requirements than pyproject.toml has now; "
                   "run `make lock`")
    out += _unsatisfied(wanted, pins(lock), lock.name)
    return out


def _unsatisfied(wanted: list[str], pinned: dict[str, list[tuple[str, str | None]]],
                 lock_name: str) -> list[str]:
    try:
        from packaging.markers import Marker
        from packaging.requirements import Requirement
    except ImportError:  # the bare interpreter before any venv: the digest check stands alone
        return []
    out: list[str] = []
    for line in wanted:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate():
            continue
        candidates = [v for v, marker in pinned.get(_canonical(req.name), [])
                      if marker is None or Marker(marker).evaluate()]
        if not candidates:
            out.append(f"{lock_name}: {req.name} is not pinned (pyproject.toml asks for {line!r})")
        elif not any(req.specifier.contains(v, prereleases=True) for v in candidates):
            out.append(f"{lock_name}: {req.name}=={candidates[0]} is outside {line!r}")
    return out


def _uv() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if not Path(found).exists():
        raise SystemExit("tools.lock: uv not found; `make venv` installs it from requirements/dev.lock")
    return found


def _uv_version(uv: str) -> str:
    return subprocess.run([uv, "--version"], check=True, capture_output=True,
                          text=True).stdout.strip()


def compile_lock(env: Environment, upgrade: bool = True) -> None:
    """Resolve ``env`` afresh with uv and write its lock with hashes and the inputs digest."""
    uv = _uv()
    wanted = inputs(env)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"{env.name}.in"
        source.write_text("\n".join(wanted) + "\n", encoding="utf-8")
        out = Path(tmp) / f"{env.name}.lock"
        command = [uv, "pip", "compile", str(source), "--universal",
                   "--python-version", env.python, "--generate-hashes", "--no-header",
                   "--no-annotate", "--quiet", "--output-file", str(out)]
        if not upgrade and env.lock.exists():
            shutil.copy(env.lock, out)  # uv keeps the existing pins it can
        else:
            command.append("--upgrade")
        subprocess.run(command, check=True, cwd=ROOT, env={**os.environ, "UV_NO_CONFIG": "1"})
        body = out.read_text(encoding="utf-8")
    header = (f"# {env.name}.lock: {env.purpose}\n"
              f"# Generated by `make lock` (python -m tools.lock, {_uv_version(uv)}); do not edit.\n"
              f"# Resolved for Python >= {env.python} on every platform, with hashes.\n"
              f"{DIGEST_PREFIX}{digest(wanted)}\n")
    LOCK_DIR.mkdir(exist_ok=True)
    env.lock.write_text(header + body, encoding="utf-8")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.lock", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the locks are in sync")
    parser.add_argument("--keep", action="store_true",
                        help="keep existing pins where they still fit (default: newest versions)")
    parser.add_argument("env", nargs="*", help="environments (default: all)")
    args = parser.parse_args(argv)
    chosen = [e for e in ENVIRONMENTS if not args.env or e.name in args.env]
    unknown = set(args.env) - {e.name for e in ENVIRONMENTS}
    if unknown:
        parser.error(f"unknown environment(s): {', '.join(sorted(unknown))}")
    if args.check:
        found = [p for env in chosen for p in problems(env)]
        for problem in found:
            print(problem, file=sys.stderr)
        return 1 if found else 0
    for env in chosen:
        compile_lock(env, upgrade=not args.keep)
        print(f"wrote {env.lock.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
