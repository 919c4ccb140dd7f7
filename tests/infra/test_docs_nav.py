"""Every docs page is reachable from the nav (the same rule `mkdocs build --strict` enforces with
`validation.nav.omitted_files: warn`), checked in the fast test run so a new page without a nav
entry is caught before the docs build."""

from __future__ import annotations

from typing import Any

import yaml

from tools import docgen

ROOT = docgen.ROOT
DOCS = ROOT / "docs"
OPTIONAL_PAGES = docgen.OPTIONAL_PAGES
GENERATED = {"reference/cli.md", "reference/configuration.md", "reference/metrics.md"}


class _Loader(yaml.SafeLoader):
    """mkdocs.yml uses ``!!python/name:`` for the mermaid fence; keep it as a plain string."""


_Loader.add_multi_constructor("tag:yaml.org,2002:python/name:", lambda _l, suffix, _n: suffix)


def _nav_pages(item: Any) -> list[str]:
    if isinstance(item, str):
        return [item]
    if isinstance(item, list):
        return [p for i in item for p in _nav_pages(i)]
    if isinstance(item, dict):
        return [p for v in item.values() for p in _nav_pages(v)]
    return []


def _config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_Loader)
    return config


def test_every_page_is_in_the_nav() -> None:
    nav = set(_nav_pages(_config()["nav"]))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    adrs = {f"adr/{a.file}" for a in docgen.adr_entries(DOCS / "adr")}  # added by the hook
    missing = pages - nav - adrs
    assert missing == set(), f"add these pages to the nav in mkdocs.yml: {sorted(missing)}"


def test_every_nav_entry_exists_or_is_generated_or_optional() -> None:
    nav = set(_nav_pages(_config()["nav"]))
    broken = {p for p in nav if not (DOCS / p).is_file()} - GENERATED - OPTIONAL_PAGES
    assert broken == set()


def test_hooks_search_and_dark_mode_are_configured() -> None:
    config = _config()
    assert config["hooks"] == ["tools/mkdocs_hooks.py"]
    assert "search" in config["plugins"]
    schemes = {p["scheme"] for p in config["theme"]["palette"]}
    assert schemes == {"default", "slate"}
    assert all("toggle" in p for p in config["theme"]["palette"])
    assert config["validation"]["nav"]["omitted_files"] == "warn"
    # optional pages are listed in the nav, so they appear as soon as they are written
    assert set(_nav_pages(config["nav"])) >= OPTIONAL_PAGES
