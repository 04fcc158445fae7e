"""Writing a Mosquitto configuration for a fleet: listener, persistence, passwords and ACLs.

Used by the demo and the test fixtures; production brokers are configured from the same rules
(see deploy/mosquitto/). Access rules come from `protocols.topics`, never typed here.
"""

import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from coordinator.errors import CoordinatorError
from protocols.topics import coordinator_acl_topics, device_acl_patterns


@dataclass(frozen=True)
class BrokerFiles:
    config: Path
    log: Path


def write_broker_config(
    directory: Path,
    *,
    port: int,
    host: str = "127.0.0.1",
    persistence: bool = False,
    coordinator_user: str | None = None,
    users: dict[str, str] | None = None,
) -> BrokerFiles:
    """Write mosquitto.conf (and passwords + ACL when `users` is given) into `directory`.

    With users, anonymous clients are refused, `coordinator_user` may use every fleet topic, and
    every other user is a device confined to the topics of its own id.
    """
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        f"listener {port} {host}",
        "user root",  # when started as root, stay able to read these files
        f"persistence {'true' if persistence else 'false'}",
        f"persistence_location {directory}/",
        "log_type error",
        "log_type warning",
        "log_type notice",
        f"allow_anonymous {'false' if users else 'true'}",
    ]
    if users:
        lines += _write_auth(directory, coordinator_user, users)
    config = directory / "mosquitto.conf"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return BrokerFiles(config=config, log=directory / "mosquitto.log")


def _write_auth(directory: Path, coordinator_user: str | None, users: dict[str, str]) -> list[str]:
    password_file = directory / "passwords"
    password_file.unlink(missing_ok=True)
    password_file.touch(mode=0o600)
    for name, password in users.items():
        try:
            subprocess.run(
                ["mosquitto_passwd", "-b", str(password_file), name, password],
                check=True,
                capture_output=True,
            )
        except (OSError, subprocess.CalledProcessError) as error:
            raise CoordinatorError(f"mosquitto_passwd failed for {name!r}: {error}") from None
    acl = []
    if coordinator_user:
        acl.append(f"user {coordinator_user}")
        acl += [f"topic {access} {topic}" for access, topic in coordinator_acl_topics()]
    acl += [f"pattern {access} {topic}" for access, topic in device_acl_patterns()]
    acl_file = directory / "acl"
    acl_file.write_text("\n".join(acl) + "\n", encoding="utf-8")
    return [f"password_file {password_file}", f"acl_file {acl_file}"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (for demos and tests on one machine)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
