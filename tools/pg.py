"""A throwaway PostgreSQL server for tests and `make` targets (Debian's `postgresql` package).

PostgreSQL refuses to run as root, so as root the data directory is handed to the ``postgres``
system user and every server binary runs through ``runuser -u postgres --``; as any other user
it runs directly. The server listens on 127.0.0.1 on a free port with its socket in the temp
folder, durability switched off (it is thrown away), and password (SCRAM) authentication so
role separation is exercised the way a real deployment sees it.

    python -m tools.pg start DIR     # prints the superuser DSN, server keeps running
    python -m tools.pg stop DIR
"""

from __future__ import annotations

import argparse
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PgServer", "find_bindir"]


def find_bindir() -> Path:
    """The directory of ``initdb``/``pg_ctl``: $PG_BINDIR, Debian's versioned dir, or PATH."""
    env = os.environ.get("PG_BINDIR")
    if env:
        return Path(env)

    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parent.name
        return tuple(int(part) for part in name.split(".") if part.isdigit())

    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: version(str(Path(p).parent))
    )
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise RuntimeError("PostgreSQL server binaries not found: apt-get install -y postgresql")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    root: Path
    port: int
    password: str
    user: str = "postgres"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def dsn(self, user: str | None = None, password: str | None = None, dbname: str = "postgres") -> str:
        return (
            f"host=127.0.0.1 port={self.port} dbname={dbname} user={user or self.user} "
            f"password={password if password is not None else self.password} connect_timeout=10"
        )

    @staticmethod
    def _as_postgres() -> list[str]:
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @classmethod
    def start(cls, root: str | Path | None = None) -> PgServer:
        # As root the folder must be reachable by the postgres user: /tmp, not a private $TMPDIR.
        parent = "/tmp" if os.geteuid() == 0 and os.path.isdir("/tmp") else None
        base = Path(root) if root else Path(tempfile.mkdtemp(prefix="arbiter-pg-", dir=parent))
        base.mkdir(parents=True, exist_ok=True)
        bindir = find_bindir()
        password = secrets.token_urlsafe(24)
        pwfile = base / "pwfile"
        pwfile.write_text(password + "\n")
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for path in (base, pwfile):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        os.chmod(base, 0o700)
        os.chmod(pwfile, 0o600)
        server = cls(base, _free_port(), password)
        run = cls._as_postgres()
        subprocess.run(
            [
                *run,
                str(bindir / "initdb"),
                "-D",
                str(server.data),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        pwfile.unlink()
        for attempt in range(3):  # the free port can be taken between probing and binding
            opts = (
                f"-p {server.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={base} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
            )
            ctl = [str(bindir / "pg_ctl"), "-D", str(server.data), "-o", opts]
            ctl += ["-l", str(base / "server.log"), "-w", "-t", "60", "start"]
            started = subprocess.run([*run, *ctl], check=False, capture_output=True)
            if started.returncode == 0:
                break
            if attempt == 2:
                log = (base / "server.log").read_text(errors="replace")[-2000:]
                reason = started.stderr.decode(errors="replace")
                raise RuntimeError(f"PostgreSQL did not start: {reason}\n{log}")
            server.port = _free_port()
        (base / "port").write_text(str(server.port))
        (base / "superuser-password").write_text(password)
        return server

    def stop(self, remove: bool = True) -> None:
        if self.data.exists():
            subprocess.run(
                [
                    *self._as_postgres(),
                    str(find_bindir() / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
                check=False,
                capture_output=True,
            )
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)

    @classmethod
    def attach(cls, root: str | Path) -> PgServer:
        base = Path(root)
        return cls(base, int((base / "port").read_text()), (base / "superuser-password").read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.pg")
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("dir")
    args = parser.parse_args(argv)
    if args.action == "start":
        print(PgServer.start(args.dir).dsn())
    else:
        PgServer.attach(args.dir).stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
