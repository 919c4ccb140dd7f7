"""Run checkov over the infrastructure files and fail on any finding or unparsed file.

checkov exits 0 when a file fails to parse (the file is then silently not checked), so this
wrapper reads its JSON report and fails on parsing errors too, and prints every suppression with
its reason so a reviewer sees what was waived. checkov runs from its own venv (.venv-infra, see the
Makefile); this script only needs the standard library.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: (framework, checkov target arguments)
SCANS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("terraform", ("-d", "terraform")),
    ("dockerfile", ("-f", "cluster/Dockerfile")),
    ("github_actions", ("-f", ".github/workflows/ci.yml")),
)


def reports(raw: str) -> list[dict[str, Any]]:
    data = json.loads(raw)
    items = data if isinstance(data, list) else [data]
    # With nothing to scan checkov prints a bare summary instead of a report.
    return [i if "results" in i else {"summary": i, "results": {}} for i in items]


def evaluate(framework: str, raw: str) -> tuple[int, list[str], list[str]]:
    """(resources scanned, problems, suppression notes) from checkov's JSON report."""
    problems: list[str] = []
    notes: list[str] = []
    resources = 0
    seen: set[tuple[str, str, str]] = set()
    for report in reports(raw):
        summary = report["summary"]
        results = report["results"]
        resources += int(summary.get("resource_count", 0))
        for path in results.get("parsing_errors", []):
            problems.append(f"{framework}: could not parse {path} (it was not checked)")
        for check in results.get("failed_checks", []):
            problems.append(
                f"{framework}: {check['check_id']} {check['check_name']} — "
                f"{check['file_path']} {check['resource']}"
            )
        for check in results.get("skipped_checks", []):
            reason = (check.get("check_result") or {}).get("suppress_comment", "")
            key = (check["check_id"], check["file_path"], reason)
            if key not in seen:  # a module called from both environments reports twice
                seen.add(key)
                notes.append(f"skipped {check['check_id']} in {check['file_path']}: {reason}")
        notes.append(f"{framework}: passed {summary.get('passed', 0)}, failed "
                     f"{summary.get('failed', 0)}, skipped {summary.get('skipped', 0)}, "
                     f"parsing errors {summary.get('parsing_errors', 0)}")
    return resources, problems, notes


def scan(checkov: str, framework: str, target: tuple[str, ...]) -> tuple[int, list[str]]:
    """Run checkov for one framework; print its notes; return (resources, problems)."""
    cmd = [checkov, "--skip-download", "--output", "json", "--framework", framework, *target]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if not proc.stdout.strip():
        return 0, [f"{framework}: checkov produced no report (exit {proc.returncode}): "
                   f"{proc.stderr.strip()[-500:]}"]
    resources, problems, notes = evaluate(framework, proc.stdout)
    for note in notes:
        print(note)
    return resources, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkov", default=str(ROOT / ".venv-infra" / "bin" / "checkov"))
    args = parser.parse_args(argv)
    if not Path(args.checkov).is_file():
        print(f"run_checkov: {args.checkov} not found (run `make lint-infra`)", file=sys.stderr)
        return 2
    problems: list[str] = []
    for framework, target in SCANS:
        resources, found = scan(args.checkov, framework, target)
        problems.extend(found)
        if framework == "terraform" and resources == 0:
            problems.append("terraform: checkov saw no resources; is terraform/ empty?")
    for problem in problems:
        print(f"run_checkov: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
