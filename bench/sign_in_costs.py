"""What the account rules cost on this CPU (a benchmark, not a test).

    .venv/bin/python bench/sign_in_costs.py [--rows N]

Prints the median milliseconds of: the password policy (zxcvbn) at 12, 72 and 256 characters;
an argon2id hash with the production parameters; and a dry-run CSV import of N students on
SQLite, with the file's size, to set the request body limit against (COORDINATOR_MAX_REQUEST_BYTES).
"""

import argparse
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select

from coordinator.core.config import Settings
from coordinator.core.passwords import Passwords, check_policy
from coordinator.db.enums import Role
from coordinator.db.migrate import upgrade
from coordinator.db.models import User, utc_now
from coordinator.db.session import make_engine, make_sessionmaker
from coordinator.schemas.csv_io import CsvKind
from coordinator.services.accounts import Invitations
from coordinator.services.audit import Actor
from coordinator.services.csv_io import import_csv
from coordinator.services.scope import Scope

KEY = SecretStr(secrets.token_urlsafe(48))


def median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def students_csv(rows: int) -> bytes:
    lines = ["student_number,full_name,status"]
    lines += [f"s{n:07d},Student Number {n},active" for n in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def csv_dry_run_ms(rows: int) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        upgrade(url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        with sessions.begin() as session:
            session.add(User(email="a@b.example", full_name="A", role=Role.ADMIN))
        with sessions() as session:
            admin = session.scalars(select(User)).one()
            actor = Actor(admin.id, admin.email)
            data = students_csv(rows)
            started = time.perf_counter()
            import_csv(
                session,
                CsvKind.STUDENTS,
                data,
                actor=actor,
                scope=Scope(admin.id, Role.ADMIN, None),
                invitations=Invitations(Settings(database_url=url, secret_key=KEY), utc_now()),
                dry_run=True,
            )
            elapsed = (time.perf_counter() - started) * 1000
        engine.dispose()
    return len(data), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000, help="Students in the CSV file.")
    args = parser.parse_args()
    for length in (12, 72, 256):
        password = ("violet kettle orbit " * 20)[:length]
        ms = median_ms(partial(check_policy, password), 20)
        print(f"password policy, {length:3d} characters: {ms:7.1f} ms")
    passwords = Passwords()
    hash_ms = median_ms(partial(passwords.hash, "x" * 16), 5)
    print(f"argon2id hash (production parameters): {hash_ms:7.1f} ms")
    size, ms = csv_dry_run_ms(args.rows)
    print(f"CSV dry run, {args.rows} students ({size / 1024:.0f} KiB): {ms:8.0f} ms")


if __name__ == "__main__":
    main()
