"""Ray as it ships: the README's commands, token auth on, and no secret left on the node.

One head for the module, started the way the README says: its ``sh`` block under "Running on
Ray" is parsed, its ``export`` applied, ``ray get-auth-token --generate`` run as written (into a
``HOME`` of the test's own, so no real ``~/.ray/auth_token`` is read or written) and its
``ray start --head`` run with the README's flags plus what a shared test machine needs (free
ports instead of 8265/6379, ``--block`` so that the test owns the process and stops it by its
pid, a temp dir of its own). Then:

* the README's ``--check-upload`` and first ``ray job submit`` lines run exactly as written
  (cwd = the checkout) and the job succeeds with trades; without ``RAY_AUTH_MODE=token`` the
  same line fails the way issue 23 measured (Ray's "Authentication required");
* ``examples/engine.toml`` runs as a job with its keys in the credential store (by reference),
  is stopped with ``ray job stop`` (``STOPPED``, after a graceful stop that printed its
  summary), and afterwards every file of the node's session directory (``runtime_resources/``
  with the unpacked upload, every log, inside zips too) and the job's log hold none of the
  keys' secrets;
* a working dir with an inline API secret is refused before anything is sent
  (``runtime_env()``), and when it is uploaded anyway (Ray's client bypassed) the job refuses
  to start and deletes the secret from the node's copy: zero hits again.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ray.job_submission import JobStatus, JobSubmissionClient

from arbiter.engine.localcluster import free_port
from arbiter.engine.uploads import InlineSecretsInUpload
from tests.jobs.log_audit import paper_secrets

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from jobs.live import RUNTIME_ENV, runtime_env  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIN = Path(sys.executable).parent


def readme_commands() -> list[list[str]]:
    """The README's "Running on Ray" block, one argv per command (continuations joined)."""
    section = (REPO / "README.md").read_text().split("## Running on Ray", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    argvs = [shlex.split(line, comments=True) for line in block.replace("\\\n", " ").splitlines()]
    return [argv for argv in argvs if argv]


def _one(commands: list[list[str]], *words: str) -> list[str]:
    return next(c for c in commands if all(w in c for w in words))


@dataclass
class Head:
    address: str
    env: dict[str, str]
    temp: Path
    token: str

    def client(self) -> JobSubmissionClient:
        # this process runs with the suite's own token (tests/conftest.py): name the head's
        return JobSubmissionClient(self.address, headers={"Authorization": f"Bearer {self.token}"})


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Head]:
    home = tmp_path_factory.mktemp("home")
    temp = Path(tempfile.mkdtemp(prefix="raytok-", dir="/tmp"))  # short: Ray's socket paths
    env = {k: v for k, v in os.environ.items()
           if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")}
    env.update(HOME=str(home), PATH=f"{BIN}:{env.get('PATH', '')}",
               ARBITER_HOME=str(tmp_path_factory.mktemp("arbiter-home")))
    commands = readme_commands()
    for argv in commands:
        if argv[0] == "export":
            env.update(dict(item.split("=", 1) for item in argv[1:]))
    assert env["RAY_AUTH_MODE"] == "token" and env["RAY_ADDRESS"] == "http://127.0.0.1:8265"
    dashboard = free_port()
    env["RAY_ADDRESS"] = f"http://127.0.0.1:{dashboard}"  # 8265 may be another's on this machine
    generate = _one(commands, "ray", "get-auth-token")
    subprocess.run(generate, env=env, check=True, capture_output=True, timeout=60)
    token_file = home / ".ray" / "auth_token"
    token = token_file.read_text().strip()
    assert len(token) == 64
    start = _one(commands, "ray", "start", "--head")
    cmd = [*start, "--block", f"--dashboard-port={dashboard}", f"--port={free_port()}",
           f"--ray-client-server-port={free_port()}", f"--dashboard-agent-listen-port={free_port()}",
           f"--metrics-export-port={free_port()}", f"--node-manager-port={free_port()}",
           f"--object-manager-port={free_port()}", "--num-cpus=2", f"--temp-dir={temp}"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    h = Head(env["RAY_ADDRESS"], env, temp, token)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                h.client().list_jobs()
                break
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.5)
        yield h
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(temp, ignore_errors=True)


def _wait(client: JobSubmissionClient, job: str, timeout_s: float = 240) -> JobStatus:
    deadline = time.monotonic() + timeout_s
    status = client.get_job_status(job)
    while not status.is_terminal() and time.monotonic() < deadline:
        time.sleep(1)
        status = client.get_job_status(job)
    return status


def node_texts(root: Path) -> Iterator[tuple[str, str]]:
    """Every file under the node's Ray temp dir as text, and every member of every zip."""
    for path in root.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        yield str(path), data.decode("utf-8", errors="replace")
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                for name in zf.namelist():
                    yield f"{path}!{name}", zf.read(name).decode("utf-8", errors="replace")


def hits(values: list[str], root: Path, *extra: tuple[str, str]) -> list[str]:
    return [f"{where}: {v[:6]}..." for where, text in [*node_texts(root), *extra]
            for v in values if v in text]


def _working_dir(where: Path) -> Path:
    """A job's working dir: the code, plus examples/ to be edited (never the checkout)."""
    ignore = shutil.ignore_patterns("__pycache__")
    for part in ("arbiter", "jobs", "examples"):
        shutil.copytree(REPO / part, where / part, ignore=ignore)
    return where


def test_readme_job_commands_work_as_written(head: Head) -> None:
    commands = readme_commands()
    check = _one(commands, "--check-upload")
    done = subprocess.run(check, cwd=REPO, env=head.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    submit = _one(commands, "ray", "job", "submit", "jobs/live.py")
    assert "--paper" in submit, submit  # the first live line needs nothing but the checkout
    # issue 23 as measured: without RAY_AUTH_MODE=token the client sends no token
    bare = {k: v for k, v in head.env.items() if k != "RAY_AUTH_MODE"}
    refused = subprocess.run(submit, cwd=REPO, env=bare, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0
    assert "Authentication required" in refused.stdout + refused.stderr
    done = subprocess.run(submit, cwd=REPO, env=head.env, capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "succeeded" in out, out[-3000:]
    summary = json.loads(next(line for line in reversed(done.stdout.splitlines())
                              if line.startswith('{"seconds"')))
    assert summary["trades"] > 0 and summary["errors"] == [], summary


def test_example_config_with_keys_by_reference_leaves_no_secret_on_the_node(
    head: Head, tmp_path: Path
) -> None:
    paper = tmp_path / "paper"
    env = {**head.env}
    venues = subprocess.Popen(
        [sys.executable, "-m", "arbiter.sim.launcher", "--dir", str(paper), "--store",
         "--exit-with-stdin"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert venues.stdout is not None
        assert venues.stdout.readline().startswith(b"ready ")
        values = paper_secrets(paper)  # what went into the store: PEM lines, wallet key, API triple
        urls = tomllib.loads((paper / "engine.toml").read_text())
        wd = _working_dir(tmp_path / "wd")
        config = wd / "examples" / "engine.toml"
        text = config.read_text()
        for venue, port in (("kalshi", "8700"), ("polymarket", "8710")):
            for key in ("rest_url", "ws_url"):
                shipped = tomllib.loads(text)[venue][key]
                assert f":{port}" in shipped
                text = text.replace(f'{key} = "{shipped}"', f'{key} = "{urls[venue][key]}"')
        shipped_journal = tomllib.loads(text)["engine"]["journal_dir"]
        text = text.replace(f'journal_dir = "{shipped_journal}"', f'journal_dir = "{tmp_path / "journal"}"')
        config.write_text(text)
        client = head.client()
        job = client.submit_job(
            entrypoint="python jobs/live.py --config examples/engine.toml --duration 600",
            runtime_env=runtime_env(wd))
        deadline = time.monotonic() + 180
        while "live job: trading" not in client.get_job_logs(job):
            assert not client.get_job_status(job).is_terminal(), client.get_job_logs(job)[-3000:]
            assert time.monotonic() < deadline, client.get_job_logs(job)[-3000:]
            time.sleep(1)
        time.sleep(8)  # trade (dry) for a while against the local venues
        assert client.stop_job(job)
        status = _wait(client, job)
        logs = client.get_job_logs(job)
        assert status == JobStatus.STOPPED, logs[-3000:]
        assert "dry-run mode" in logs and "token auth" in logs, logs[:2000]
        summary = json.loads(logs.strip().splitlines()[-1])  # printed: the stop was graceful
        assert summary["opportunities"] > 0 and summary["errors"] == [], summary
    finally:
        if venues.stdin is not None:
            venues.stdin.close()
        venues.terminate()
        venues.wait(timeout=30)
    shipped = list(head.temp.rglob("runtime_resources/working_dir_files/*/examples/engine.toml"))
    assert shipped, "the upload is not where the scan looks"
    assert hits(values, head.temp, ("job logs", logs)) == []


def test_inline_secret_is_refused_before_the_upload_and_by_the_job(head: Head, tmp_path: Path) -> None:
    wd = _working_dir(tmp_path / "wd")
    secret = secrets.token_urlsafe(32)
    config = wd / "examples" / "engine.toml"
    config.write_text(config.read_text().replace(
        'credentials = "store"',
        'kalshi_key_id = "k"\nkalshi_private_key = "/nonexistent/kalshi.pem"\n'
        'polymarket_private_key = "/nonexistent/poly.hex"\npolymarket_api_key = "k"\n'
        f'polymarket_api_secret = "{secret}"\npolymarket_api_passphrase = "p"'))
    with pytest.raises(InlineSecretsInUpload, match="polymarket_api_secret"):
        runtime_env(wd)
    client = head.client()  # Ray's own client has no such check: the job is the second line
    job = client.submit_job(entrypoint="python jobs/live.py --config examples/engine.toml",
                            runtime_env={**RUNTIME_ENV, "working_dir": str(wd)})
    status = _wait(client, job, 120)
    logs = client.get_job_logs(job)
    assert status == JobStatus.FAILED, logs[-2000:]
    assert "refusing to start" in logs and "deleted from this node's copy" in logs, logs[-2000:]
    # the upload did land on the node (so the scan looks at it), without the file that held it
    copies = [d for d in head.temp.rglob("runtime_resources/working_dir_files/*")
              if (d / "examples" / "pairs.toml").is_file() and not (d / "examples" / "engine.toml").exists()]
    assert copies, "the refused upload's node copy is not where the scan looks"
    assert hits([secret], head.temp, ("job logs", logs)) == []
