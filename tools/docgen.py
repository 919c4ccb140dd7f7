"""Reference pages generated from the code at docs-build time (see tools/mkdocs_hooks.py).

Hand-written reference pages drift: a new subcommand, environment variable or pairs key lands
without its docs. So the CLI reference walks the real argparse tree, the configuration reference
scans the source for environment reads and reads the pairs-file key table from its module
docstring, the metrics reference scans for prometheus_client metrics and renders the alert rules
Terraform deploys, and the ADR index lists docs/adr/. Nothing here imports a module that is not
needed, and every generator degrades to a page that says what is missing instead of crashing
the build.
"""

from __future__ import annotations

import argparse
import ast
import itertools
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "arbiter"
PAIRS_MODULE = PACKAGE / "core" / "pairs.py"
#: Prometheus rule files: the cluster's own (deployed by Terraform) and the engine's.
ALERT_RULE_GLOBS = (
    (ROOT / "terraform" / "modules" / "observability" / "rules", "*.yml"),
    (ROOT / "cluster" / "prometheus", "alerts*.yml"),
)

_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _cell(text: str | None) -> str:
    """Markdown-table-safe text."""
    return " ".join((text or "").split()).replace("|", "\\|")


# --- CLI reference ---------------------------------------------------------------------------


@dataclass
class LoadedParser:
    parser: argparse.ArgumentParser


def load_cli_parser() -> LoadedParser:
    """The real parser. Its command modules are imported explicitly (ADR 0145): one that cannot be
    imported fails here, loudly, rather than vanishing from the reference."""
    from arbiter.cli import main as cli

    return LoadedParser(cli.build_parser())


@dataclass
class Command:
    path: tuple[str, ...]  # ("arbiter", "kalshi", "check-connectivity")
    parser: argparse.ArgumentParser
    help: str | None


def _subparsers(parser: argparse.ArgumentParser) -> Iterator[argparse._SubParsersAction[Any]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield action


def walk_commands(parser: argparse.ArgumentParser) -> list[Command]:
    """Every command reachable in the tree, depth first, root included."""
    prog = parser.prog.split()[-1]
    found: list[Command] = []

    def visit(p: argparse.ArgumentParser, path: tuple[str, ...], help_: str | None) -> None:
        found.append(Command(path, p, help_))
        for action in _subparsers(p):
            helps = {a.dest: a.help for a in action._choices_actions}
            seen: set[int] = set()
            for name, child in action.choices.items():
                if id(child) in seen:  # aliases map several names to one parser
                    continue
                seen.add(id(child))
                visit(child, (*path, name), helps.get(name))

    visit(parser, (prog,), parser.description)
    return found


def leaf_commands(parser: argparse.ArgumentParser) -> list[tuple[str, ...]]:
    """Paths of the commands a user runs (those without further subcommands)."""
    return [c.path for c in walk_commands(parser) if not any(_subparsers(c.parser))]


@contextmanager
def _columns(width: int) -> Iterator[None]:
    """argparse wraps usage to the terminal; pin the width so the page is reproducible."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def _expanded_help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    if not action.help or action.help == argparse.SUPPRESS:
        return ""
    try:
        return parser._get_formatter()._expand_help(action)
    except (KeyError, TypeError, ValueError):
        return action.help


def _option_tables(parser: argparse.ArgumentParser) -> list[str]:
    """One table per argparse argument group (positionals, options, and titled groups such as
    a venue's flags), in the order ``--help`` shows them."""
    out: list[str] = []
    for group in parser._action_groups:
        positional: list[str] = []
        optional: list[str] = []
        for action in group._group_actions:
            if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
                continue
            if action.help == argparse.SUPPRESS:
                continue
            help_ = _cell(_expanded_help(parser, action))
            if action.choices is not None:
                help_ += f" Choices: {', '.join(f'`{c}`' for c in action.choices)}."
            if action.option_strings:
                metavar = action.metavar or (action.dest.upper() if action.nargs != 0 else "")
                flags = ", ".join(f"`{s}`" for s in action.option_strings)
                if metavar:
                    flags += f" `{metavar}`"
                default = action.default
                shown = (
                    "" if default in (None, False, argparse.SUPPRESS) or action.nargs == 0
                    else f"`{default}`"
                )
                required = " **required**" if action.required else ""
                optional.append(f"| {flags}{required} | {help_} | {shown} |")
            else:
                positional.append(f"| `{action.metavar or action.dest}` | {help_} |")
        if not (positional or optional):
            continue
        if group.title not in (None, "positional arguments", "options", "optional arguments"):
            out += [f"**{group.title}**" + (f": {_cell(group.description)}"
                                            if group.description else ""), ""]
        if positional:
            out += ["| Argument | Description |", "|---|---|", *positional, ""]
        if optional:
            out += ["| Option | Description | Default |", "|---|---|---|", *optional, ""]
    return out


def render_cli_reference(loaded: LoadedParser | None = None) -> str:
    loaded = loaded or load_cli_parser()
    commands = walk_commands(loaded.parser)
    out = [
        "# CLI reference",
        "",
        "Generated from the argparse tree of `arbiter.cli.main.build_parser()` on every docs",
        "build, so it lists exactly the commands the installed code registers.",
        "",
    ]
    out += ["| Command | Purpose |", "|---|---|"]
    out += [f"| [`{' '.join(c.path)}`](#{'-'.join(c.path)}) | {_cell(c.help)} |"
            for c in commands[1:]]
    out.append("")
    with _columns(100):
        for command in commands:
            name = " ".join(command.path)
            out += [f"## `{name}` {{#{'-'.join(command.path)}}}", ""]
            if command.help and command.help != command.parser.description:
                out += [_cell(command.help), ""]
            if command.parser.description:
                out += [command.parser.description.strip(), ""]
            out += ["```text", command.parser.format_usage().strip(), "```", ""]
            out += _option_tables(command.parser)
            if command.parser.epilog:
                out += [command.parser.epilog.strip(), ""]
    return "\n".join(out)


# --- Environment variables -------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class EnvRead:
    name: str
    file: str  # relative to the repository root
    line: int
    default: str | None = None
    note: str = ""  # for computed names: the enclosing docstring, which usually explains them

    @property
    def computed(self) -> bool:
        return self.name.startswith("(computed")


def _is_environ(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr == "environ" and isinstance(node.value, ast.Name) and node.value.id == "os"
    return isinstance(node, ast.Name) and node.id == "environ"


def _is_getenv(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr == "getenv" and isinstance(node.value, ast.Name) and node.value.id == "os"
    return isinstance(node, ast.Name) and node.id == "getenv"


def _str_leaves(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and _ENV_NAME.match(n.value)]


class _EnvScanner:
    """Finds environment reads in one module, including ``env = os.environ if x is None else x``
    aliases (the injectable-environment pattern) and names held in module constants."""

    def __init__(self, tree: ast.Module, rel: str) -> None:
        self.tree = tree
        self.rel = rel
        self.parents: dict[ast.AST, ast.AST] = {
            child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)
        }
        self.constants: dict[str, str] = {}
        self.env_tables: list[str] = []  # names in module-level *ENV* tables, e.g. ENV_VARS
        for stmt in tree.body:
            targets: list[ast.expr] = []
            if isinstance(stmt, ast.Assign):
                targets, value = stmt.targets, stmt.value
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                targets, value = [stmt.target], stmt.value
            for target in targets:
                if not isinstance(target, ast.Name):
                    continue
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    self.constants[target.id] = value.value
                elif "ENV" in target.id.upper() and isinstance(value, ast.Dict | ast.Tuple
                                                                  | ast.List | ast.Set):
                    self.env_tables += _str_leaves(value)

    def _aliases(self, scope: ast.AST) -> set[str]:
        names: set[str] = set()
        for node in ast.walk(scope):
            value = getattr(node, "value", None)
            if isinstance(node, ast.Assign | ast.AnnAssign) and value is not None and any(
                _is_environ(n) for n in ast.walk(value)
            ):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names.update(t.id for t in targets if isinstance(t, ast.Name))
        return names

    def _bindings(self, node: ast.AST, name: str) -> list[str] | None:
        """Values of ``name`` if an enclosing comprehension iterates it over string literals."""
        current: ast.AST | None = node
        while current is not None:
            if isinstance(current, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
                for gen in current.generators:
                    if (isinstance(gen.target, ast.Name) and gen.target.id == name
                            and isinstance(gen.iter, ast.Tuple | ast.List)
                            and all(isinstance(e, ast.Constant) and isinstance(e.value, str)
                                    for e in gen.iter.elts)):
                        return [e.value for e in gen.iter.elts]  # type: ignore[attr-defined]
            current = self.parents.get(current)
        return None

    def _resolve(self, expr: ast.expr) -> list[str] | None:
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return [expr.value]
        if isinstance(expr, ast.Name):
            if expr.id in self.constants:
                return [self.constants[expr.id]]
            return self._bindings(expr, expr.id)
        if isinstance(expr, ast.JoinedStr):
            parts: list[list[str]] = []
            for value in expr.values:
                if isinstance(value, ast.Constant):
                    parts.append([str(value.value)])
                elif isinstance(value, ast.FormattedValue):
                    resolved = self._resolve(value.value)
                    if resolved is None:
                        return None
                    parts.append(resolved)
            return ["".join(p) for p in itertools.product(*parts)]
        return None

    def _docstring(self, node: ast.AST) -> str:
        """First paragraph of the nearest enclosing function or class docstring."""
        current = self.parents.get(node)
        while current is not None:
            if isinstance(current, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                doc = ast.get_docstring(current)
                if doc:
                    return " ".join(doc.split("\n\n")[0].split())
            current = self.parents.get(current)
        return ""

    def _key(self, node: ast.AST, aliases: set[str]) -> tuple[ast.expr, ast.expr | None] | None:
        def env_like(n: ast.AST) -> bool:
            return _is_environ(n) or (isinstance(n, ast.Name) and n.id in aliases)

        if isinstance(node, ast.Call) and node.args:
            func = node.func
            default = node.args[1] if len(node.args) > 1 else None
            if _is_getenv(func):
                return node.args[0], default
            if (isinstance(func, ast.Attribute) and func.attr in {"get", "pop", "setdefault"}
                    and env_like(func.value)):
                return node.args[0], default
        if isinstance(node, ast.Subscript) and env_like(node.value):
            return node.slice, None
        if (isinstance(node, ast.Compare) and len(node.ops) == 1
                and isinstance(node.ops[0], ast.In | ast.NotIn) and env_like(node.comparators[0])):
            return node.left, None
        return None

    def reads(self) -> list[EnvRead]:
        found: set[EnvRead] = set()
        scopes: list[ast.AST] = [self.tree] + [
            n for n in ast.walk(self.tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        for scope in scopes:
            aliases = self._aliases(scope) if scope is not self.tree else set()
            for node in ast.walk(scope):
                hit = self._key(node, aliases)
                if hit is None:
                    continue
                key, default_node = hit
                line = getattr(node, "lineno", 0)
                default = None
                if isinstance(default_node, ast.Constant) and default_node.value is not None:
                    default = str(default_node.value)
                names = self._resolve(key)
                note = ""
                if names is None:
                    # A computed name: the module's ENV tables hold the candidates; otherwise say
                    # so on the page rather than silently dropping the read.
                    names = self.env_tables or [f"(computed: {ast.unparse(key)})"]
                    note = "" if self.env_tables else self._docstring(node)
                found.update(EnvRead(n, self.rel, line, default, note) for n in names)
        return sorted(found)


def collect_env_reads(roots: Sequence[Path] = (PACKAGE,), base: Path = ROOT) -> list[EnvRead]:
    """Environment reads in every module under ``roots``; files are named relative to ``base``."""
    reads: list[EnvRead] = []
    for root in roots:
        for file in sorted(root.rglob("*.py")):
            text = file.read_text(encoding="utf-8")
            if "environ" not in text and "getenv" not in text:
                continue
            tree = ast.parse(text, filename=str(file))
            reads += _EnvScanner(tree, file.relative_to(base).as_posix()).reads()
    return sorted(reads)


# --- Pairs file ------------------------------------------------------------------------------


@dataclass
class PairsKeys:
    table: list[str]  # markdown table lines from the module docstring
    keys: list[str]  # first column of that table
    accepted: set[str] | None  # the parser's own key set, when the module defines _KNOWN
    problems: list[str]


def pairs_keys(module: Path = PAIRS_MODULE) -> PairsKeys | None:
    """The key table of the pairs-file module docstring (None while the module does not exist)."""
    if not module.is_file():
        return None
    tree = ast.parse(module.read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree) or ""
    table = [line.strip() for line in doc.splitlines() if line.strip().startswith("|")]
    keys: list[str] = []
    for line in table[2:]:  # header and separator first
        first = line.strip("|").split("|")[0].strip().strip("`")
        if first:
            keys.append(first)
    accepted: set[str] | None = None
    for stmt in tree.body:
        if (isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_KNOWN"
                                                  for t in stmt.targets)):
            accepted = {e.value for e in ast.walk(stmt.value)
                        if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    problems: list[str] = []
    if accepted is not None:
        rel = module.relative_to(ROOT).as_posix() if module.is_relative_to(ROOT) else module.name
        problems += [f"{rel}: key '{k}' is accepted by the parser but missing from the docstring "
                     "table" for k in sorted(accepted - set(keys))]
        problems += [f"{rel}: key '{k}' is documented but the parser rejects it"
                     for k in sorted(set(keys) - accepted)]
    return PairsKeys(table, keys, accepted, problems)


def _flags_mentioning(names: set[str]) -> dict[str, list[str]]:
    """``arbiter CMD --flag`` strings whose help text names an environment variable."""
    found: dict[str, list[str]] = {}
    try:
        parser = load_cli_parser().parser
    except Exception:  # the CLI reference reports import problems; this column is a nicety
        return found
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, sorted(names))) + r")\b") if names \
        else None
    for command in walk_commands(parser):
        for action in command.parser._actions:
            if pattern is None or not action.option_strings or not action.help:
                continue
            for match in set(pattern.findall(action.help)):
                found.setdefault(match, []).append(
                    f"{' '.join(command.path)} {action.option_strings[-1]}")
    return found


def render_configuration_reference() -> tuple[str, list[str]]:
    """The page and the problems (doc/code mismatches) found while writing it."""
    problems: list[str] = []
    out = [
        "# Configuration reference",
        "",
        "Generated from the code on every docs build. Command-line options are in the",
        "[CLI reference](cli.md).",
        "",
        "## Environment variables",
        "",
        "Every environment variable read under `arbiter/` (found by scanning the source for",
        "`os.environ` / `os.getenv` reads, including injected-environment aliases).",
        "",
    ]
    all_reads = collect_env_reads()
    reads = [r for r in all_reads if not r.computed]
    computed = [r for r in all_reads if r.computed]
    if reads:
        by_name: dict[str, list[EnvRead]] = {}
        for read in reads:
            by_name.setdefault(read.name, []).append(read)
        flags = _flags_mentioning(set(by_name))
        out += ["| Variable | Read in | Default in code | Flag that overrides it |",
                "|---|---|---|---|"]
        for name, group in sorted(by_name.items()):
            where = "<br>".join(sorted({f"`{r.file}:{r.line}`" for r in group}))
            defaults = sorted({r.default for r in group if r.default is not None})
            default = ", ".join(f"`{d}`" for d in defaults)
            shown = "<br>".join(f"`{f}`" for f in flags.get(name, [])[:3])
            if len(flags.get(name, [])) > 3:
                shown += f"<br>(and {len(flags[name]) - 3} more commands)"
            out.append(f"| `{_cell(name)}` | {where} | {default} | {shown} |")
    else:
        out.append("The code reads no environment variables yet.")
    if computed:
        out += ["", "### Variables with computed names", "",
                "These reads build the variable name at run time; the surrounding docstring says "
                "how.", "", "| Read in | Name expression | Explanation |", "|---|---|---|"]
        out += [f"| `{r.file}:{r.line}` | `{_cell(r.name[len('(computed: '):-1])}` | "
                f"{_cell(r.note)} |" for r in computed]
    out += ["", "## Pairs file", ""]
    keys = pairs_keys()
    if keys is None:
        out += ['!!! note "Not available yet"',
                "    `arbiter/core/pairs.py` does not exist yet; its key table will appear here.",
                ""]
    else:
        problems += keys.problems
        out += ["A TOML file of `[[pair]]` tables, one per matched Kalshi/Polymarket market",
                "(keys from the `arbiter.core.pairs` docstring, checked against the keys the parser",
                "accepts). Unknown keys are errors.", ""]
        out += keys.table if keys.table else ["(the module docstring has no key table)"]
        sample = PACKAGE / "data" / "sample_pairs.toml"
        if sample.is_file():
            out += ["", "Example (`arbiter/data/sample_pairs.toml`):", "", "```toml",
                    sample.read_text(encoding="utf-8").strip(), "```"]
    out.append("")
    return "\n".join(out), problems


# --- Metrics and alerts ----------------------------------------------------------------------

_METRIC_TYPES = {"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"}


@dataclass(frozen=True, order=True)
class Metric:
    name: str
    kind: str
    help: str
    labels: tuple[str, ...]
    file: str


def _metric_helpers(tree: ast.Module) -> dict[str, str]:
    """Local helpers such as ``def counter(name, doc, labels): return Counter(name, doc, ...)``:
    helper name -> metric type, so ``counter("ticks", ...)`` is found too."""
    helpers: dict[str, str] = {}
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef) or not func.args.args:
            continue
        first = func.args.args[0].arg
        for node in ast.walk(func):
            if (isinstance(node, ast.Return) and isinstance(node.value, ast.Call)
                    and _metric_kind(node.value.func) is not None and node.value.args
                    and isinstance(node.value.args[0], ast.Name)
                    and node.value.args[0].id == first):
                helpers[func.name] = _metric_kind(node.value.func) or ""
    return helpers


def _metric_kind(func: ast.expr) -> str | None:
    kind = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return kind if kind in _METRIC_TYPES else None


def _strings(node: ast.AST | None) -> tuple[str, ...]:
    """The string literals in a label list (``["tenant", "kind"]``, ``tag_keys=("venue",)``)."""
    if node is None:
        return ()
    return tuple(str(e.value) for e in ast.walk(node)
                 if isinstance(e, ast.Constant) and isinstance(e.value, str))


def _metric_rows(metrics: Sequence[Metric]) -> list[str]:
    return ["| Metric | Type | Labels | Meaning | Declared in |", "|---|---|---|---|---|"] + [
        f"| `{m.name}` | {m.kind.lower()} | {', '.join(f'`{x}`' for x in m.labels)} | "
        f"{_cell(m.help)} | `{m.file}` |" for m in metrics]


def _default_namespace(tree: ast.Module) -> str:
    """The default of a ``namespace`` parameter in the module (metrics built with
    ``namespace=ns`` from it), or "" when there is none."""
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef):
            args = func.args
            params = args.args + args.kwonlyargs
            defaults = [None] * (len(args.args) - len(args.defaults)) + list(args.defaults)
            defaults += list(args.kw_defaults)
            for param, default in zip(params, defaults, strict=True):
                if (param.arg == "namespace" and isinstance(default, ast.Constant)
                        and isinstance(default.value, str)):
                    return default.value
    return ""


def collect_metrics(root: Path = PACKAGE, base: Path = ROOT) -> list[Metric]:
    """Metrics as Prometheus exposes them (namespace prefix, ``_total`` on counters)."""
    metrics: list[Metric] = []
    for file in sorted(root.rglob("*.py")):
        text = file.read_text(encoding="utf-8")
        if "prometheus_client" not in text:
            continue
        tree = ast.parse(text)
        helpers = _metric_helpers(tree)
        namespace = _default_namespace(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            kind = _metric_kind(node.func)
            helper = None
            if kind is None and isinstance(node.func, ast.Name) and node.func.id in helpers:
                helper = helpers[node.func.id]
            kind = kind or helper
            if kind is None:
                continue
            args = [*node.args, None, None]
            kwargs = {k.arg: k.value for k in node.keywords}
            name, doc = args[0], kwargs.get("documentation", args[1])
            labels = kwargs.get("labelnames", args[2])
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                continue
            prefix = ""
            ns = kwargs.get("namespace")
            if isinstance(ns, ast.Constant) and isinstance(ns.value, str):
                prefix = ns.value
            elif ns is not None or helper is not None:
                prefix = namespace  # built from the module's namespace parameter
            full = f"{prefix}_{name.value}" if prefix else name.value
            if kind == "Counter" and not full.endswith("_total"):
                full += "_total"
            help_ = doc.value if isinstance(doc, ast.Constant) else ""
            label_names = _strings(labels)
            metrics.append(Metric(full, kind, str(help_), label_names,
                                  file.relative_to(base).as_posix()))
    return sorted(set(metrics))


#: the module the Ray actors' metrics live in (one home, arbiter.telemetry.ray_metrics)
RAY_METRICS_MODULE = PACKAGE / "telemetry" / "ray_metrics.py"


def collect_ray_metrics(module: Path = RAY_METRICS_MODULE, base: Path = ROOT) -> list[Metric]:
    """Metrics declared with ``ray.util.metrics`` (``metrics.Counter("name", "help",
    tag_keys=(...))``), named as Ray's metrics agent exposes them: ``ray_`` in front, and
    ``_total`` after a counter's name (Ray ≥ 2.10; docs.ray.io ``ray.util.metrics.Counter``)."""
    if not module.is_file():
        return []
    out: list[Metric] = []
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "metrics"):
            continue
        kind = _metric_kind(node.func)
        args = [*node.args, None, None]
        kwargs = {k.arg: k.value for k in node.keywords}
        name, doc = args[0], kwargs.get("description", args[1])
        if kind is None or not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
            continue
        full = f"ray_{name.value}" + ("_total" if kind == "Counter" else "")
        out.append(Metric(full, kind, str(doc.value) if isinstance(doc, ast.Constant) else "",
                          _strings(kwargs.get("tag_keys")), module.relative_to(base).as_posix()))
    return sorted(set(out))


def render_metrics_reference() -> str:
    out = ["# Metrics and alerts reference", "",
           "Generated on every docs build from the `prometheus_client` metrics declared under",
           "`arbiter/` and from the alert rules Terraform loads into the Managed Prometheus",
           "workspace (`terraform/modules/observability/rules/` and `cluster/prometheus/`).", ""]
    if (ROOT / "docs" / "observability.md").is_file():
        out += ["[Observability](../observability.md) explains what they mean and how to act.", ""]
    out += ["## Metrics", ""]
    metrics = collect_metrics()
    if metrics:
        out += _metric_rows(metrics)
    else:
        out += ['!!! note "Planned"',
                "    No arbiter metrics are declared yet; the observability issue adds them. Ray's",
                "    own metrics are exported by every node on port 8080.", ""]
    ray_metrics = collect_ray_metrics()
    if ray_metrics:
        out += ["", "## Ray actor metrics", "",
                "Exported by the actors through Ray's metrics agent, on every node's metrics port",
                "(8080: `ray start --metrics-export-port`) and in the Ray dashboard, beside Ray's own",
                "`ray_*` metrics. Ray adds the `ray_` prefix, the actor's `Component`, `NodeAddress`",
                "and `WorkerId` labels, and `_total` to counters.", "", *_metric_rows(ray_metrics)]
    out += ["", "## Alerts", ""]
    rules = []
    files = [f for d, pattern in ALERT_RULE_GLOBS for f in sorted(d.glob(pattern))
             if not f.stem.endswith("_test")]  # promtool unit tests, not rules
    for file in files:
        doc = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        for group in doc.get("groups", []):
            for rule in group.get("rules", []):
                if "alert" in rule:
                    rules.append((group.get("name", file.stem), rule))
    if rules:
        out += ["| Alert | Group | Fires when | For | Severity | Meaning |",
                "|---|---|---|---|---|---|"]
        for group_name, rule in rules:
            ann = rule.get("annotations", {})
            meaning = _cell(ann.get("summary", ""))
            if ann.get("action"):
                meaning += f" *Action:* {_cell(ann['action'])}"
            out.append(f"| `{rule['alert']}` | {group_name} | `{_cell(str(rule.get('expr')))}` | "
                       f"{rule.get('for', '')} | {rule.get('labels', {}).get('severity', '')} | "
                       f"{meaning} |")
    else:
        out.append("No alert rules are defined yet.")
    out.append("")
    return "\n".join(out)


# --- ADRs ------------------------------------------------------------------------------------

_ADR_FILE = re.compile(r"^(\d{4})-[\w.-]+\.md$")
_STATUS = re.compile(r"^\s*[-*]?\s*\**status\**\s*:\s*\**\s*(.+?)\s*\**\s*$", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Adr:
    number: str
    file: str  # path relative to docs/adr/
    title: str
    status: str


def adr_entries(adr_dir: Path) -> list[Adr]:
    entries: list[Adr] = []
    for file in sorted(adr_dir.glob("*.md")):
        match = _ADR_FILE.match(file.name)
        if not match:
            continue
        lines = file.read_text(encoding="utf-8").splitlines()
        title = next((ln[2:].strip() for ln in lines if ln.startswith("# ")), file.stem)
        status = next((m.group(1) for ln in lines[:20] if (m := _STATUS.match(ln))), "")
        entries.append(Adr(match.group(1), file.name, title, status))
    return entries


def render_adr_index(entries: Sequence[Adr]) -> str:
    if not entries:
        return "No decisions recorded yet."
    rows = ["| # | Decision | Status |", "|---|---|---|"]
    rows += [f"| {a.number} | [{_cell(a.title)}]({a.file}) | {_cell(a.status)} |" for a in entries]
    return "\n".join(rows)


# --- Navigation ------------------------------------------------------------------------------

#: Capability pages other issues are still writing: listed in mkdocs.yml's nav and dropped from it
#: (with an info message) while the file does not exist, so the strict build does not depend on
#: their timing. Any other missing nav target still fails the build.
OPTIONAL_PAGES = frozenset({
    "core.md", "kalshi.md", "polymarket.md", "execution.md",
    "engine.md", "backtesting.md", "tenancy.md", "observability.md",
})


def drop_missing_pages(nav: Any, docs_dir: Path, optional: frozenset[str]) -> tuple[Any, list[str]]:
    """``nav`` without entries for ``optional`` pages that do not exist yet (nor emptied sections).

    Only pages named in ``optional`` are dropped: any other missing nav target stays, so the
    strict build still fails on it.
    """
    dropped: list[str] = []

    def walk(item: Any) -> Any:
        if isinstance(item, list):
            kept = [walk(i) for i in item]
            return [i for i in kept if i not in (None, [], {})]
        if isinstance(item, dict):
            kept_dict = {k: walk(v) for k, v in item.items()}
            return {k: v for k, v in kept_dict.items() if v not in (None, [], {})}
        if isinstance(item, str) and item in optional and not (docs_dir / item).is_file():
            dropped.append(item)
            return None
        return item

    return walk(nav), dropped


def add_to_nav_section(nav: Any, anchor: str, pages: Sequence[str]) -> bool:
    """Append ``pages`` (those not already listed) to the nav list that contains ``anchor``."""

    def find(item: Any) -> list[Any] | None:
        if isinstance(item, list):
            if anchor in item or any(isinstance(i, dict) and anchor in i.values() for i in item):
                return item
            for child in item:
                found = find(child)
                if found is not None:
                    return found
        elif isinstance(item, dict):
            for value in item.values():
                found = find(value)
                if found is not None:
                    return found
        return None

    section = find(nav)
    if section is None:
        return False
    listed = {i for i in section if isinstance(i, str)}
    listed |= {v for i in section if isinstance(i, dict) for v in i.values() if isinstance(v, str)}
    section.extend(p for p in pages if p not in listed)
    return True
