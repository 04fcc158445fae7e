"""Speed of a CSV import through the services (a benchmark, not a test).

    .venv/bin/python bench/csv_import.py [--rows N] [--database-url URL]

Imports N rooms into one building of a fresh database (SQLite in a temporary folder unless a URL
of an empty PostgreSQL database is given): first as a dry run, then for real, then the same file
again (every row unchanged). Prints the seconds and rows per second of each run. Every row goes
through `places.create_room` (or `update_room`) in its own savepoint, with an audit entry.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sqlalchemy.orm import Session

from coordinator.core.config import Settings
from coordinator.db import models as m
from coordinator.db.enums import Role
from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine, make_sessionmaker
from coordinator.schemas.csv_io import CsvKind
from coordinator.services.accounts import Invitations
from coordinator.services.audit import Actor
from coordinator.services.csv_io import import_csv
from coordinator.services.scope import Scope

HEADER = "site_code,building_code,room_code,name,capacity,latitude,longitude,geofence_radius_m\n"


BENCH_SECRET = "bench-only-secret-key-not-for-production-use-0123456789"


def rooms_file(rows: int) -> bytes:
    lines = [
        f"main,A,R-{n:05d},Room {n},{1 + n % 300},52.5,13.4,{10 + n % 50}" for n in range(rows)
    ]
    return (HEADER + "\n".join(lines) + "\n").encode()


def seed(session: Session) -> int:
    site = m.Site(code="main", name="Main", time_zone="Europe/Berlin")
    session.add(site)
    session.flush()
    admin = m.User(email="admin@bench.test", full_name="Admin", role=Role.ADMIN, is_active=True)
    session.add_all([m.Building(site_id=site.id, code="A", name="A"), admin])
    session.commit()
    return admin.id


def run(url: str, rows: int) -> None:
    upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        admin_id = seed(session)
    actor, scope = Actor(admin_id, "admin@bench.test", "bench"), Scope(admin_id, Role.ADMIN, None)
    data = rooms_file(rows)
    print(f"{rows} rooms, {len(data) / 1024:.0f} KiB, {engine.dialect.name}")
    for label, dry_run in (("dry run", True), ("import", False), ("again (unchanged)", False)):
        with sessions() as session:
            started = time.perf_counter()
            result = import_csv(
                session,
                CsvKind.ROOMS,
                data,
                actor=actor,
                scope=scope,
                invitations=Invitations(Settings(secret_key=BENCH_SECRET), m.utc_now()),
                dry_run=dry_run,
            )
            session.commit()
            seconds = time.perf_counter() - started
        print(
            f"  {label:18} {seconds:6.2f} s  {rows / seconds:7.0f} rows/s  "
            f"(created {result.created}, updated {result.updated}, unchanged {result.unchanged})"
        )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: SQLite)")
    arguments = parser.parse_args()
    if arguments.database_url:
        run(arguments.database_url, arguments.rows)
        return
    with tempfile.TemporaryDirectory() as folder:
        run(f"sqlite:///{Path(folder) / 'bench.sqlite3'}", arguments.rows)


if __name__ == "__main__":
    main()
