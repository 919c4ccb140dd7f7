"""Which build of the hot core modules this process imports: mypyc-compiled or the pure sources.

The books, fees, sizing and detection (:data:`HOT_MODULES`) can be compiled by mypyc into one
extension group (``python -m arbiter.compile_core``, run by ``make venv`` and by the Ray node
image's build; ADR 0155). The compiled modules do not sit next to the sources: they live in a
directory of their own, ``arbiter_core_native/`` in the interpreter's site-packages, with a
manifest of the SHA-256 of every source file they were compiled from. This package's
``__init__`` installs :class:`_CoreFinder` at the front of ``sys.meta_path``, which resolves each
hot module explicitly, to exactly one of two files:

* the compiled extension, when a manifest is found on ``sys.path`` whose interpreter tag matches
  and whose hashes equal the sources *this* package was imported from, and its shared library
  loads;
* otherwise (or with ``ARBITER_PURE=1``) the ``.py`` next to this file.

So a ``ray job submit --working-dir .`` upload (the ``.py`` sources first on the workers'
``sys.path``) still runs the compiled core the node image built, as long as the uploaded sources
are the ones it was built from; an upload with edited sources runs those edits, pure, and says
so. An in-place ``.so`` (a stray ``mypyc`` run in the tree) is never imported. The choice is
all-or-nothing because compiled modules of one group call each other directly in C.

:func:`compiled` reports the choice (``arbiter --version``, the arbiter actor's ``status()`` and
its start log line show it). Both builds give byte-identical results (tests/core/test_native.py);
this module is only import machinery and touches no trading state.
"""

from __future__ import annotations

import contextlib
import copyreg
import dataclasses
import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = [
    "GROUP",
    "HOT_MODULES",
    "MANIFEST",
    "NATIVE_DIR_ENV",
    "NATIVE_DIR_NAME",
    "PURE_ENV",
    "SOURCES",
    "CoreBuild",
    "compiled",
    "install",
    "shared_library",
    "source_digests",
]

#: compiled together, in this order of dependency. ``units`` stays interpreted: it parses wire
#: values, and compiled code would turn a wrong-typed value (a JSON number where a decimal string
#: belongs) into a TypeError at the call instead of the UnitError its callers handle (ADR 0155).
HOT_MODULES: tuple[str, ...] = ("price_grid", "book", "fees", "sizing", "detection", "gate", "tape")
#: what a compiled core must match: the hot modules and the core modules they import, whose
#: ``Final`` constants (``PRICE_SCALE``, ...) mypyc may have folded into the compiled code
SOURCES: tuple[str, ...] = (*HOT_MODULES, "units", "pairs")
#: the mypyc group; its shared library is the module ``arbiter.core._hot__mypyc`` (a build
#: without one, e.g. Cython's module-per-extension, names none in its manifest)
GROUP = "arbiter.core._hot"
NATIVE_DIR_NAME = "arbiter_core_native"
MANIFEST = "manifest.json"
#: ``ARBITER_PURE=1`` imports the pure sources even where a matching compiled core exists
PURE_ENV = "ARBITER_PURE"
#: a directory holding a compiled core, searched before ``sys.path`` (tests, unusual layouts)
NATIVE_DIR_ENV = "ARBITER_NATIVE_DIR"
_PACKAGE = "arbiter.core"


@dataclass(frozen=True, slots=True)
class CoreBuild:
    """What this process imports for the hot core modules, and why."""

    compiled: bool
    #: "mypyc 2.4.1" or "pure"
    build: str
    #: why the pure sources are used (None when compiled)
    reason: str | None
    #: the compiled core's directory (None when pure and none was found)
    location: str | None
    modules: tuple[str, ...] = HOT_MODULES

    def describe(self) -> str:
        """One line for ``arbiter --version``, logs and status pages."""
        if self.compiled:
            return f"core: compiled ({self.build}; {', '.join(self.modules)}) from {self.location}"
        return f"core: pure Python ({self.reason})"

    def as_dict(self) -> dict[str, Any]:
        return {"compiled": self.compiled, "build": self.build, "reason": self.reason,
                "location": self.location, "modules": list(self.modules)}


_state: CoreBuild | None = None


def compiled() -> CoreBuild:
    """The build this process uses for :data:`HOT_MODULES` (decided when ``arbiter.core`` loads)."""
    if _state is None:  # pragma: no cover - arbiter.core's __init__ always installs first
        raise RuntimeError("arbiter.core.native.install has not run")
    return _state


def source_digests(package_dir: Path) -> dict[str, str]:
    """SHA-256 of each of :data:`SOURCES`: what a compiled core must have been built from."""
    return {m: hashlib.sha256((package_dir / f"{m}.py").read_bytes()).hexdigest()
            for m in SOURCES}


def _interpreter_tag() -> str:
    return f"{sys.implementation.cache_tag}{importlib.machinery.EXTENSION_SUFFIXES[0]}"


def _candidates() -> list[Path]:
    explicit = os.environ.get(NATIVE_DIR_ENV)
    if explicit:
        return [Path(explicit)]
    return [Path(entry or ".") / NATIVE_DIR_NAME for entry in sys.path]


def _check(native: Path, digests: dict[str, str]) -> str | None:
    """Why the compiled core in ``native`` cannot stand in for these sources (None: it can)."""
    try:
        manifest = json.loads((native / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        return f"unreadable manifest in {native}: {exc}"
    if manifest.get("interpreter") != _interpreter_tag():
        return (f"compiled for {manifest.get('interpreter')}, this interpreter is "
                f"{_interpreter_tag()}")
    built = manifest.get("sources", {})
    changed = [m for m in SOURCES if built.get(m) != digests[m]]
    if changed:
        return (f"sources changed since the compiled core in {native} was built "
                f"({', '.join(f'{m}.py' for m in changed)}; rebuild: make venv, or the node image)")
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    shared = [manifest["shared"]] if manifest.get("shared") else []
    missing = [m for m in (*HOT_MODULES, *shared) if not (native / f"{m}{suffix}").is_file()]
    if missing:
        return f"{native} lacks {', '.join(missing)}"
    return None


def shared_library() -> str:
    """The leaf name of the mypyc group's shared library (``_hot__mypyc``)."""
    return GROUP.rsplit(".", 1)[1] + "__mypyc"


def _rebuild(cls: type[Any], values: tuple[Any, ...]) -> Any:
    return cls(*values)


def _reduce_fields(obj: Any) -> tuple[Any, ...]:
    cls = type(obj)
    return _rebuild, (cls, tuple(getattr(obj, f.name) for f in dataclasses.fields(cls) if f.init))


def _register_pickling(module: ModuleType) -> None:
    """One pickle form for the module's dataclasses in both builds: ``cls(*init fields)``.

    Ray pickles opportunities, pairs, fee models and configs between processes, which need not
    run the same build (a node whose sources differ from its image falls back to pure). The
    interpreted dataclasses pickle their slots as a list and compiled ones as a dict, and each
    unpickles the other's state into the wrong fields, silently; a compiled frozen dataclass
    cannot unpickle its own either. Rebuilding through ``__init__`` is the same in both, and runs
    ``__post_init__``'s checks again. The other classes (books, ladders, the detector) are
    process-local state and keep the default, which fails loudly across builds.
    """
    for value in vars(module).values():
        if (isinstance(value, type) and value.__module__ == module.__name__
                and dataclasses.is_dataclass(value)):
            copyreg.pickle(value, _reduce_fields)


def _register_loaded() -> None:
    # a compiled module's init loads the group's modules it imports itself, past this finder
    for name in HOT_MODULES:
        module = sys.modules.get(f"{_PACKAGE}.{name}")
        if module is not None:
            _register_pickling(module)


class _SourceLoader(importlib.machinery.SourceFileLoader):
    def exec_module(self, module: ModuleType) -> None:
        super().exec_module(module)
        _register_loaded()


class _ExtensionLoader(importlib.machinery.ExtensionFileLoader):
    def exec_module(self, module: ModuleType) -> None:
        super().exec_module(module)
        _register_loaded()


class _CoreFinder(MetaPathFinder):
    """Resolves each hot module (and the compiled group's shared library) to one chosen file."""

    def __init__(self, package_dir: Path, native: Path | None, shared: str | None) -> None:
        self.package_dir = package_dir
        self.native = native
        self.compiled = (*HOT_MODULES, shared) if shared else HOT_MODULES
        self.suffix = importlib.machinery.EXTENSION_SUFFIXES[0]

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        package, _, leaf = fullname.rpartition(".")
        if package != _PACKAGE:
            return None
        if self.native is not None and leaf in self.compiled:
            file = str(self.native / f"{leaf}{self.suffix}")
            return importlib.util.spec_from_file_location(
                fullname, file, loader=_ExtensionLoader(fullname, file))
        if leaf in HOT_MODULES:
            file = str(self.package_dir / f"{leaf}.py")
            return importlib.util.spec_from_file_location(
                fullname, file, loader=_SourceLoader(fullname, file))
        return None


def _locate(package_dir: Path) -> tuple[Path | None, str | None]:
    try:
        digests = source_digests(package_dir)
    except OSError as exc:  # sources not shipped (a zip import, ...): nothing to compare with
        return None, f"sources not readable: {exc}"
    reasons: list[str] = []
    for native in _candidates():
        if not (native / MANIFEST).is_file():
            continue
        reason = _check(native, digests)
        if reason is None:
            return native, None
        reasons.append(reason)
    if reasons:
        return None, reasons[0]
    if os.environ.get(NATIVE_DIR_ENV):
        return None, f"no {MANIFEST} in {NATIVE_DIR_ENV}={os.environ[NATIVE_DIR_ENV]}"
    return None, f"no compiled core found ({NATIVE_DIR_NAME}/ on sys.path; make venv builds it)"


def install(package_dir: str) -> CoreBuild:
    """Decide the build for ``arbiter.core`` imported from ``package_dir`` and install its finder.

    Called once by ``arbiter/core/__init__.py``, before any hot module is imported. A compiled
    core whose shared library fails to load (a missing system library, a damaged file) is
    dropped here, with the error as the reason, rather than failing the first import later.
    """
    global _state
    here = Path(package_dir)
    for finder in [f for f in sys.meta_path if isinstance(f, _CoreFinder)]:
        sys.meta_path.remove(finder)
    native: Path | None = None
    build, reason = "pure", None
    if os.environ.get(PURE_ENV, "").strip() not in ("", "0"):
        reason = f"{PURE_ENV}={os.environ[PURE_ENV]}"
    else:
        native, reason = _locate(here)
    manifest: dict[str, Any] = {}
    if native is not None:
        manifest = json.loads((native / MANIFEST).read_text())
    shared = manifest.get("shared") or None
    finder = _CoreFinder(here, native, shared)
    sys.meta_path.insert(0, finder)
    if native is not None:
        try:
            if shared:
                importlib.import_module(f"{_PACKAGE}.{shared}")
            build = str(manifest.get("compiler", "compiled"))
        except Exception as exc:  # any load failure means: run the pure sources
            sys.modules.pop(f"{_PACKAGE}.{shared}", None)
            finder.native, native = None, None
            reason = f"compiled core failed to load: {exc!r}"
    with contextlib.suppress(ValueError):  # the finder stays first, whatever ran meanwhile
        sys.meta_path.remove(finder)
    sys.meta_path.insert(0, finder)
    _state = CoreBuild(native is not None, build, reason, str(native) if native else None)
    return _state
