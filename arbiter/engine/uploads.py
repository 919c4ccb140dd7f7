"""What a Ray job's ``working_dir`` would upload, checked for secrets before it goes anywhere.

``ray job submit --working-dir .`` zips the directory, stores the zip in the GCS and unpacks it
on every node that runs a worker of the job, under the session directory's
``runtime_resources/working_dir_files/`` (world-readable, kept after the job for reuse). A secret
in that upload is a secret on every node for good. So a working dir is checked first, with the
very traversal Ray packs it with (``ray/_private/runtime_env/packaging.py`` ``_zip_files``:
``_get_excludes`` for the runtime env's ``excludes``, ``_dir_travel`` for ``.gitignore`` and
``.rayignore`` files, @ ray 2.60.0), and every TOML file that would go is read for:

* **inline secrets**: a string under a key named ``*secret``, ``*passphrase`` or ``*password``
  (the Polymarket API triple of an engine config, a local venue's accounts file, ...), or
  under ``*private_key`` holding key material itself (a PEM block, a 32-byte hex key);
* **key files that would ride along**: a ``*private_key`` path that points inside the working
  dir at a file the excludes do not cover.

Secrets reach a job by reference instead (``[[tenant]] credentials = "store"``: the encrypted
store and Secrets Manager; key files at absolute paths on the node), docs/adr/0166.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arbiter.app.errors import ConfigError

__all__ = ["Finding", "InlineSecretsInUpload", "check_working_dir", "scan_working_dir", "uploaded_files"]

_SECRET_NAME = re.compile(r"(secret|passphrase|password)$", re.IGNORECASE)
_KEY_NAME = re.compile(r"private_key$", re.IGNORECASE)
_HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


class InlineSecretsInUpload(ConfigError):
    """The working dir holds secrets (inline, or key files it would upload): nothing is sent."""


@dataclass(frozen=True)
class Finding:
    path: str  # the TOML file, relative to the working dir
    key: str  # dotted TOML key (``tenant[0].polymarket_api_secret``)
    why: str
    #: the file holding the secret itself: ``path``, or the key file it points at
    holder: str = ""

    def __str__(self) -> str:
        return f"{self.path}: {self.key}: {self.why}"


def uploaded_files(root: str | Path, excludes: Sequence[str] = ()) -> list[Path]:
    """Every file Ray would pack from ``root`` with these ``excludes`` (its own traversal)."""
    from ray._private.runtime_env.packaging import _dir_travel, _get_excludes

    base = Path(root).absolute()
    include_gitignore = os.environ.get("RAY_RUNTIME_ENV_IGNORE_GITIGNORE", "0") != "1"
    found: list[Path] = []

    def handler(path: Path) -> None:
        if path.is_file():
            found.append(path)

    _dir_travel(base, [_get_excludes(base, list(excludes))], handler,
                include_gitignore=include_gitignore)
    return found


def _walk(node: Any, prefix: str) -> Iterator[tuple[str, str, Any]]:
    """(dotted key, last key name, value) of every leaf of a TOML document."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, Mapping | list):
                yield from _walk(value, name)
            else:
                yield name, str(key), value
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{prefix}[{i}]")


def _is_key_material(text: str) -> bool:
    return "PRIVATE KEY" in text or bool(_HEX_KEY.match(text.strip()))


def scan_working_dir(root: str | Path, excludes: Sequence[str] = ()) -> list[Finding]:
    """Everything secret the upload of ``root`` would carry (empty: safe to upload)."""
    base = Path(root).absolute()
    files = uploaded_files(base, excludes)
    shipped = {str(p) for p in files}
    findings: list[Finding] = []
    for path in files:
        if path.suffix != ".toml":
            continue
        rel = str(path.relative_to(base))
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            findings.append(Finding(rel, "-", "not valid TOML, so it cannot be checked", rel))
            continue
        for dotted, name, value in _walk(doc, ""):
            if not isinstance(value, str) or not value:
                continue
            if _SECRET_NAME.search(name):
                findings.append(Finding(rel, dotted, "inline secret", rel))
            elif _KEY_NAME.search(name):
                if _is_key_material(value):
                    findings.append(Finding(rel, dotted, "inline private key", rel))
                    continue
                target = Path(value).expanduser()
                target = Path(os.path.abspath(target if target.is_absolute() else path.parent / target))
                if str(target) in shipped:
                    key_file = str(target.relative_to(base))
                    findings.append(Finding(rel, dotted, f"key file {key_file} would be uploaded",
                                            key_file))
    return findings


def check_working_dir(root: str | Path, excludes: Iterable[str] = ()) -> None:
    """Raise :class:`InlineSecretsInUpload` naming every finding (keys and files, never values)."""
    findings = scan_working_dir(root, list(excludes))
    if findings:
        lines = "\n  ".join(str(f) for f in findings)
        raise InlineSecretsInUpload(
            f"refusing to upload {Path(root).absolute()} as a Ray working_dir: it holds secrets "
            f"that would be copied to every node (runtime_resources/ in Ray's session dir):\n  "
            f"{lines}\nreference them instead: [[tenant]] credentials = \"store\" (the encrypted "
            "store, master key in Secrets Manager) or key files at absolute paths outside the "
            "working dir; see docs/deployment.md#secrets-never-ride-in-the-upload")
