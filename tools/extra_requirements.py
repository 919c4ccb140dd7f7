"""Print one optional-dependency group of pyproject.toml as a requirements list.

pyproject.toml stays the single place where tool versions are pinned, even for tools (checkov)
that must live in their own venv because their pins clash with the product's. Stdlib only, so
it runs under the bare system interpreter before any venv exists.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def requirements(extra: str, pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    extras: dict[str, list[str]] = data["project"]["optional-dependencies"]
    if extra not in extras:
        raise KeyError(f"pyproject.toml has no optional-dependencies group {extra!r}")
    return list(extras[extra])


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: extra_requirements.py EXTRA", file=sys.stderr)
        return 2
    try:
        print("\n".join(requirements(argv[0])))
    except KeyError as exc:
        print(f"extra_requirements: {exc.args[0]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
