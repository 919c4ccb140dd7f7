"""Build the compiled hot core: mypyc over arbiter.core's books, fees, sizing and detection.

    python -m arbiter.compile_core [--dest DIR] [--source PACKAGE_DIR] [--check]
                                   [--compiler mypyc|cython]

Run by ``make venv`` (into the venv's site-packages) and by the Ray node image's build stage
(cluster/Dockerfile); needs mypy (the dev lock pins it; mypyc ships with it) and a C compiler.
The sources are copied to a scratch directory and compiled there as one mypyc group
(:data:`arbiter.core.native.GROUP`), so no ``build/`` or ``.c`` file lands in the tree and no
``.so`` sits next to the sources, where ``ray job submit --working-dir .`` would upload it. The
extensions go to ``DIR`` (default ``<site-packages>/arbiter_core_native``) with a manifest of
the interpreter tag and each source's SHA-256: :mod:`arbiter.core.native` imports them only for
sources with exactly those hashes (ADR 0155). ``--check`` says whether ``DIR`` is current and
exits 1 if not, without building. ``--compiler cython`` builds the same modules with Cython
(pure-Python mode, no code changes) where it is installed: the alternative ADR 0155 measured
(``python -m bench.compiled --cython``); the shipped build is mypyc's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from arbiter.core.native import (
    GROUP,
    HOT_MODULES,
    MANIFEST,
    NATIVE_DIR_NAME,
    _check,
    _interpreter_tag,
    shared_library,
    source_digests,
)

__all__ = ["build", "default_dest", "main"]

#: run by the child interpreter in the scratch directory (setuptools drives the C compiler)
_SETUP = {
    "mypyc": """
import sys
from setuptools import setup
from mypyc.build import mypycify
setup(name="arbiter-core-native", script_args=["build_ext", "--build-lib", sys.argv[1]],
      ext_modules=mypycify(sys.argv[2:], group_name={group!r}, opt_level="3"))
""",
    "cython": """
import sys
from setuptools import setup
from Cython.Build import cythonize
setup(name="arbiter-core-native", script_args=["build_ext", "--build-lib", sys.argv[1]],
      ext_modules=cythonize(sys.argv[2:], compiler_directives={{"language_level": 3}}, quiet=True))
""",
}


def default_dest() -> Path:
    return Path(sysconfig.get_paths()["platlib"]) / NATIVE_DIR_NAME


def _version(compiler: str) -> str:
    if compiler == "cython":
        import Cython  # type: ignore[import-not-found]  # optional: the measured alternative

        return f"cython {Cython.__version__}"
    from mypy.version import __version__

    return f"mypyc {__version__}"


def build(source: Path, dest: Path, python: str = sys.executable,
          compiler: str = "mypyc") -> dict[str, object]:
    """Compile ``source``'s hot modules into ``dest`` (replaced whole); returns the manifest."""
    digests = source_digests(source)
    with tempfile.TemporaryDirectory(prefix="arbiter-compile-core-") as tmp:
        scratch = Path(tmp)
        core = scratch / "arbiter" / "core"
        core.mkdir(parents=True)
        (scratch / "arbiter" / "__init__.py").write_text("")
        # every core module, so mypyc's type check sees what the hot ones import (pairs, units)
        for file in source.glob("*.py"):
            shutil.copy2(file, core / file.name)
        (core / "__init__.py").write_text("")  # the package body is import machinery, not core
        out = scratch / "out"
        files = [f"arbiter/core/{m}.py" for m in HOT_MODULES]
        proc = subprocess.run(
            [python, "-c", _SETUP[compiler].format(group=GROUP), str(out), *files],
            cwd=scratch, capture_output=True, text=True,
            env=dict(os.environ),
        )
        if proc.returncode:
            raise RuntimeError(f"{compiler} failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n"
                               f"{proc.stderr[-4000:]}")
        built = sorted((out / "arbiter" / "core").glob("*.so")) + sorted(
            (out / "arbiter" / "core").glob("*.pyd"))
        staged = Path(tempfile.mkdtemp(prefix=f".{NATIVE_DIR_NAME}-", dir=dest.parent))
        try:
            for file in built:
                shutil.copy2(file, staged / file.name)
            manifest: dict[str, object] = {
                "compiler": _version(compiler),
                "interpreter": _interpreter_tag(),
                "group": GROUP if compiler == "mypyc" else None,
                "shared": shared_library() if compiler == "mypyc" else None,
                "modules": list(HOT_MODULES),
                "sources": digests,
            }
            (staged / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
            if dest.exists():
                shutil.rmtree(dest)
            staged.rename(dest)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m arbiter.compile_core",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parent / "core",
                        help="the arbiter/core directory to compile (default: this package's)")
    parser.add_argument("--dest", type=Path, default=None,
                        help=f"output directory (default: <site-packages>/{NATIVE_DIR_NAME})")
    parser.add_argument("--check", action="store_true",
                        help="only say whether DEST holds a build of SOURCE; exit 1 if not")
    parser.add_argument("--compiler", choices=sorted(_SETUP), default="mypyc")
    parser.add_argument("--allow-pure", action="store_true",
                        help="if the build fails (no C compiler, no Python headers), say so and "
                             "exit 0: arbiter then runs the pure sources. Ignored where CI is set")
    parser.add_argument("--stamp", type=Path, default=None,
                        help="touch this file after a successful build (make's stamp)")
    args = parser.parse_args(argv)
    dest: Path = args.dest or default_dest()
    if args.check:
        reason = (_check(dest, source_digests(args.source)) if (dest / MANIFEST).is_file()
                  else f"no compiled core in {dest}")
        print(f"compile_core: {reason or f'{dest} is current'}")
        return 1 if reason else 0
    try:
        manifest = build(args.source, dest, compiler=args.compiler)
    except (RuntimeError, OSError, ImportError) as exc:
        if not args.allow_pure or os.environ.get("CI"):
            raise
        print(f"compile_core: the compiled core could not be built, so arbiter runs the pure "
              f"sources (the same results, slower; ADR 0155). Install a C compiler and the "
              f"Python headers (Debian: gcc, python3-dev) and run make venv again.\n{exc}",
              file=sys.stderr)
        return 0
    print(f"compile_core: {manifest['compiler']} built {', '.join(HOT_MODULES)} into {dest}")
    if args.stamp is not None:
        args.stamp.touch()
    return 0


if __name__ == "__main__":
    sys.exit(main())
