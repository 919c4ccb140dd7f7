"""MkDocs hooks (mkdocs.yml ``hooks:``): generated reference pages and the ADR list.

Generated pages are built in memory on every build and never committed, so they cannot go stale:
``reference/cli.md``, ``reference/configuration.md`` and ``reference/metrics.md`` (tools/docgen.py).
ADRs are added to the nav from docs/adr/ and listed in docs/adr/index.md where it says
``<!-- adr-index -->``, so a new ADR needs no nav edit. Every other page must be in mkdocs.yml's
nav: ``validation.nav.omitted_files: warn`` makes ``mkdocs build --strict`` fail on a page that is
not.

Doc/code mismatches found while generating (e.g. a pairs key the parser accepts but the docs
omit) are logged as warnings, which fail the strict build.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools import docgen  # (needs the repository root on sys.path, set just above)

log = logging.getLogger("mkdocs.hooks.arbiter")

ADR_INDEX = "adr/index.md"
ADR_MARKER = "<!-- adr-index -->"


def _adr_dir(config: MkDocsConfig) -> Path:
    return Path(config.docs_dir) / "adr"


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    nav, dropped = docgen.drop_missing_pages(
        config.nav, Path(config.docs_dir), docgen.OPTIONAL_PAGES
    )
    for page in dropped:
        log.info("nav: %s does not exist yet; left out", page)
    adrs = [f"adr/{adr.file}" for adr in docgen.adr_entries(_adr_dir(config))]
    if not docgen.add_to_nav_section(nav, ADR_INDEX, adrs):
        log.warning("mkdocs.yml nav has no '%s' entry; ADRs cannot be listed", ADR_INDEX)
    config.nav = nav
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    loaded = docgen.load_cli_parser()
    config_page, problems = docgen.render_configuration_reference()
    for problem in problems:
        log.warning("configuration reference: %s", problem)
    generated = {
        "reference/cli.md": docgen.render_cli_reference(loaded),
        "reference/configuration.md": config_page,
        "reference/metrics.md": docgen.render_metrics_reference(),
    }
    for src_uri, content in generated.items():
        existing = files.get_file_from_path(src_uri)
        if existing is not None:
            log.warning("docs/%s is generated; delete the committed copy", src_uri)
            files.remove(existing)
        files.append(File.generated(config, src_uri, content=content))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if page.file.src_uri == ADR_INDEX:
        if ADR_MARKER not in markdown:
            log.warning("%s lost its '%s' marker", ADR_INDEX, ADR_MARKER)
        return markdown.replace(
            ADR_MARKER, docgen.render_adr_index(docgen.adr_entries(_adr_dir(config)))
        )
    return markdown
