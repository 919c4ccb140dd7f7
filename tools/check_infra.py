"""Static checks for terraform/ that stand in for `terraform validate` (no terraform binary here).

Every .tf file must parse as HCL2 (python-hcl2), and each Terraform directory must be internally
consistent: every ``var.X`` / ``local.X`` / ``data.T.N`` it reads is declared (and every variable
it declares is read), every module call
points at a directory that exists, passes only variables that module declares and every variable
it requires, and every ``module.M.O`` it reads is an output of that module. Environment roots must
configure a backend and run one Ray node group per node class. ``#checkov:skip`` suppressions must
carry a reason. The checks are plain functions so tests/infra can run them on broken fixtures.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[1]
TERRAFORM = ROOT / "terraform"

#: Ray node classes; each runs as an Auto Scaling group advertising the custom resource
#: ``<class>_node`` (the head advertises ``head_node``).
NODE_CLASSES = ("monitor", "arbiter", "risk", "executor")

#: Files whose checkov suppressions must be justified.
SUPPRESSION_FILES = ("cluster/Dockerfile", ".github/workflows/ci.yml")

_META_ARGS = {"source", "version", "providers", "depends_on", "count", "for_each"}
_REF = re.compile(r"(?<![\w.])(var|local|module|data)\.([A-Za-z_][\w-]*)(?:\.([A-Za-z_][\w-]*))?")
_SKIP = re.compile(r"checkov:skip=([A-Za-z0-9_]+)(?::(.*))?")
_PATH_REF = re.compile(r'(?:templatefile|file|fileset)\("\$\{path\.module\}/([^"$]+)"')


def rel(path: Path) -> str:
    """Repository-relative path for messages (absolute outside the repository, e.g. in tests)."""
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def unquote(key: str) -> str:
    """python-hcl2 keeps the quotes of block labels and string literals; drop them."""
    if len(key) >= 2 and key[0] == key[-1] == '"':
        return key[1:-1]
    return key


@dataclass
class TfDir:
    """One Terraform module or root: everything declared in its .tf files."""

    path: Path
    texts: dict[Path, str] = field(default_factory=dict)
    variables: dict[str, bool] = field(default_factory=dict)  # name -> has a default
    outputs: set[str] = field(default_factory=set)
    locals: set[str] = field(default_factory=set)
    data: set[str] = field(default_factory=set)  # "type.name"
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> arguments
    has_backend: bool = False
    has_provider: bool = False


def _blocks(doc: dict[str, Any], kind: str) -> Iterator[dict[str, Any]]:
    yield from doc.get(kind, [])


def parse_dir(path: Path) -> TfDir:
    """Parse every .tf file of one directory; a syntax error raises with the file name."""
    tf = TfDir(path)
    for file in sorted(path.glob("*.tf")):
        text = file.read_text(encoding="utf-8")
        tf.texts[file] = text
        try:
            doc = hcl2.loads(text)
        except Exception as exc:  # lark raises several unrelated types
            raise ValueError(f"{rel(file)}: HCL parse error: {exc}") from exc
        for block in _blocks(doc, "variable"):
            for name, body in block.items():
                tf.variables[unquote(name)] = "default" in body
        for block in _blocks(doc, "output"):
            tf.outputs.update(unquote(name) for name in block)
        for block in _blocks(doc, "locals"):
            tf.locals.update(k for k in block if not k.startswith("__"))
        for block in _blocks(doc, "data"):
            for dtype, named in block.items():
                tf.data.update(f"{unquote(dtype)}.{unquote(n)}" for n in named)
        for block in _blocks(doc, "module"):
            for name, body in block.items():
                tf.modules[unquote(name)] = body
        for block in _blocks(doc, "terraform"):
            tf.has_backend = tf.has_backend or "backend" in block
        tf.has_provider = tf.has_provider or bool(doc.get("provider"))
    return tf


def _code_lines(text: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.lstrip()
        if not stripped.startswith(("#", "//")):
            yield number, line


def references(text: str) -> Iterator[tuple[int, str, str, str | None]]:
    """(line, kind, name, attribute) for every var./local./module./data. reference."""
    for number, line in _code_lines(text):
        for match in _REF.finditer(line):
            yield number, match.group(1), match.group(2), match.group(3)


def module_source(tf: TfDir, name: str) -> Path:
    return (tf.path / unquote(str(tf.modules[name]["source"]))).resolve()


def check_dir(tf: TfDir, parsed: dict[Path, TfDir]) -> list[str]:
    """Problems inside one directory; ``parsed`` holds the already-parsed module directories."""
    problems: list[str] = []
    for file, text in tf.texts.items():
        name_of_file = rel(file)
        for line, kind, name, attr in references(text):
            where = f"{name_of_file}:{line}"
            if kind == "var" and name not in tf.variables:
                problems.append(f"{where}: var.{name} is not declared")
            elif kind == "local" and name not in tf.locals:
                problems.append(f"{where}: local.{name} is not declared")
            elif kind == "data" and f"{name}.{attr}" not in tf.data:
                problems.append(f"{where}: data.{name}.{attr} is not declared")
            elif kind == "module":
                if name not in tf.modules:
                    problems.append(f"{where}: module.{name} is not called here")
                    continue
                source = parsed.get(module_source(tf, name))
                if source is not None and attr is not None and attr not in source.outputs:
                    problems.append(f"{where}: module.{name} has no output '{attr}'")
        for match in _PATH_REF.finditer(text):
            if not (tf.path / match.group(1)).exists():
                problems.append(f"{name_of_file}: {match.group(1)} does not exist")
    used_vars = {name for text in tf.texts.values()
                 for _, kind, name, _ in references(text) if kind == "var"}
    for unused in sorted(set(tf.variables) - used_vars):
        problems.append(f"{rel(tf.path)}: variable '{unused}' is declared but never used")
    for name, args in tf.modules.items():
        where = f"{rel(tf.path)}: module '{name}'"
        source_path = module_source(tf, name)
        source = parsed.get(source_path)
        if source is None:
            problems.append(f"{where}: source {unquote(str(args['source']))} is not a module dir")
            continue
        passed = {k for k in args if not k.startswith("__")} - _META_ARGS
        for arg in sorted(passed - set(source.variables)):
            problems.append(f"{where}: passes '{arg}', which the module does not declare")
        required = {v for v, has_default in source.variables.items() if not has_default}
        for arg in sorted(required - passed):
            problems.append(f"{where}: does not pass required variable '{arg}'")
    return problems


def check_env_root(tf: TfDir) -> list[str]:
    """An environment root configures state and providers and runs every node class."""
    where = rel(tf.path)
    problems: list[str] = []
    if not tf.has_backend:
        problems.append(f"{where}: no backend block (state would be local)")
    if not tf.has_provider:
        problems.append(f"{where}: no provider block")
    clusters = [
        args for name, args in tf.modules.items()
        if module_source(tf, name).name == "ray_cluster"
    ]
    if len(clusters) != 1:
        problems.append(f"{where}: expected one ray_cluster module call, found {len(clusters)}")
        return problems
    groups = clusters[0].get("node_groups")
    classes = set(groups) if isinstance(groups, dict) else set()
    if classes != set(NODE_CLASSES):
        problems.append(
            f"{where}: ray_cluster node_groups {sorted(classes)} != node classes "
            f"{sorted(NODE_CLASSES)}"
        )
    return problems


def check_suppressions(files: Iterable[Path]) -> list[str]:
    """Every ``checkov:skip=CHECK`` needs ``:reason`` with real words after it."""
    problems: list[str] = []
    for file in files:
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            for match in _SKIP.finditer(line):
                reason = (match.group(2) or "").strip()
                if len(reason.split()) < 3:
                    problems.append(
                        f"{rel(file)}:{number}: checkov:skip={match.group(1)} "
                        "has no justification (write '#checkov:skip=ID:why it is safe')"
                    )
    return problems


def tf_dirs(root: Path) -> list[Path]:
    return sorted({f.parent.resolve() for f in root.rglob("*.tf") if ".terraform" not in f.parts})


def check_all(
    root: Path = TERRAFORM, extra_files: Iterable[Path] | None = None
) -> tuple[list[str], dict[Path, TfDir]]:
    """All problems under ``root`` plus unjustified suppressions in ``extra_files``
    (default: the Dockerfile and the CI workflow)."""
    parsed: dict[Path, TfDir] = {}
    problems: list[str] = []
    for path in tf_dirs(root):
        try:
            parsed[path] = parse_dir(path)
        except ValueError as exc:
            problems.append(str(exc))
    for tf in parsed.values():
        problems.extend(check_dir(tf, parsed))
    envs = root / "envs"
    for tf in parsed.values():
        if tf.path.parent == envs.resolve():
            problems.extend(check_env_root(tf))
    if extra_files is None:
        extra_files = [ROOT / f for f in SUPPRESSION_FILES if (ROOT / f).is_file()]
    extra = list(extra_files)
    problems.extend(check_suppressions([*(f for tf in parsed.values() for f in tf.texts), *extra]))
    return problems, parsed


def main() -> int:
    problems, parsed = check_all()
    files = sum(len(tf.texts) for tf in parsed.values())
    for problem in problems:
        print(f"check_infra: {problem}", file=sys.stderr)
    if not parsed:
        print("check_infra: no Terraform found under terraform/", file=sys.stderr)
        return 1
    status = "FAILED" if problems else "ok"
    print(f"check_infra: {status}: {files} .tf files in {len(parsed)} directories parsed; "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
