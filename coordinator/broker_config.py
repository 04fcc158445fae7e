"""Writing a Mosquitto configuration for a fleet: listener, limits, persistence, accounts, access.

Used by the demo and the test fixtures; the production template in deploy/mosquitto/ carries the
same limits (a test keeps them in step). Access rules come from `protocols.topics`, never typed
here.

Accounts and access go through Mosquitto's dynamic-security plugin rather than a password file
and an ACL file, because in Mosquitto 2.0 the ACL file does not check subscriptions: a device
could join the coordinator's shared subscription (`$share/coordinator/...`) and take a share of
the fleet's events away from it. The plugin refuses every subscription not granted, and binds
each device account to its own client id, so no device can take over another's session.
"""

import base64
import hashlib
import json
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coordinator.errors import CoordinatorError
from protocols.codec import DEFAULT_MAX_MESSAGE_BYTES
from protocols.topics import (
    AclAccess,
    coordinator_acl_topics,
    device_acl_patterns,
    shared_filter,
)

# Where Debian's mosquitto package puts the plugin, on a PC and on a 64-bit Pi.
DYNSEC_PLUGIN_GLOBS = ("/usr/lib/*/mosquitto_dynamic_security.so", "/usr/lib/mosquitto_*.so")
COORDINATOR_ROLE = "coordinator"
PBKDF2_ITERATIONS = 101  # what mosquitto_ctrl uses; the passwords are long random tokens


@dataclass(frozen=True)
class BrokerLimits:
    """How much the broker holds for an ingest worker that is away, and how big a message may be.

    Mosquitto's default queues 1000 messages per session and drops the rest silently (the
    publisher still gets a successful PUBACK). 500,000 messages is 8 minutes of the benchmark's
    1,000 events/s, or about 3 hours of a 500-device fleet at one event per 10 s each; at about
    1 KB of broker memory per queued event it costs up to 512 MiB, the byte limit below.
    """

    max_queued_messages: int = 500_000
    max_queued_bytes: int = 512 * 1024 * 1024
    message_size_limit: int = DEFAULT_MAX_MESSAGE_BYTES
    autosave_interval_s: int = 5

    def lines(self) -> list[str]:
        """The configuration lines these limits become (also in deploy/mosquitto/)."""
        return [
            f"max_queued_messages {self.max_queued_messages}",
            f"max_queued_bytes {self.max_queued_bytes}",
            f"message_size_limit {self.message_size_limit}",
            f"autosave_interval {self.autosave_interval_s}",
        ]


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
    coordinator_users: Iterable[str] = (),
    users: dict[str, str] | None = None,
    limits: BrokerLimits | None = None,
    share_group: str = "coordinator",
) -> BrokerFiles:
    """Write mosquitto.conf (and, when `users` is given, the dynamic-security file) to `directory`.

    With users, anonymous clients are refused; `coordinator_user` and `coordinator_users` (one
    account per ingest worker) may use every fleet topic and the `share_group` subscription, and
    every other user is a device confined to its own topics and its own client id.
    """
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        f"listener {port} {host}",
        "user root",  # when started as root, stay able to read these files
        f"persistence {'true' if persistence else 'false'}",
        f"persistence_location {directory}/",
        *(limits or BrokerLimits()).lines(),
        "log_type error",
        "log_type warning",
        "log_type notice",
        f"allow_anonymous {'false' if users else 'true'}",
    ]
    if users:
        coordinators = {*coordinator_users, *([coordinator_user] if coordinator_user else [])}
        security = dynamic_security(users, coordinators=coordinators, share_group=share_group)
        security_file = directory / "dynamic-security.json"
        security_file.touch(mode=0o600)
        security_file.write_text(json.dumps(security, indent=1), encoding="utf-8")
        lines += [f"plugin {dynamic_security_plugin()}", f"plugin_opt_config_file {security_file}"]
    config = directory / "mosquitto.conf"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return BrokerFiles(config=config, log=directory / "mosquitto.log")


def dynamic_security_plugin() -> Path:
    """The installed dynamic-security plugin; it ships with Debian's `mosquitto` package."""
    for pattern in DYNSEC_PLUGIN_GLOBS:
        for found in sorted(Path("/").glob(pattern.lstrip("/"))):
            if found.name == "mosquitto_dynamic_security.so":
                return found
    raise CoordinatorError(
        "mosquitto_dynamic_security.so not found: install the Debian package `mosquitto`"
    )


def dynamic_security(
    users: dict[str, str], *, coordinators: set[str], share_group: str
) -> dict[str, Any]:
    """The dynamic-security plugin's file: accounts, their roles, and nothing allowed by default."""
    coordinator_acls = [
        acl
        for access, topic in coordinator_acl_topics()
        for acl in [*_acls(access, topic), *_acls("read", shared_filter(share_group, topic))]
    ]
    roles = [{"rolename": COORDINATOR_ROLE, "acls": coordinator_acls}]
    clients = []
    for name, password in sorted(users.items()):
        if name in coordinators:
            clients.append(_client(name, password, COORDINATOR_ROLE, client_id=None))
            continue
        acls = [
            acl
            for access, pattern in device_acl_patterns()
            for acl in _acls(access, pattern.replace("%u", name))
        ]
        roles.append({"rolename": f"device-{name}", "acls": acls})
        clients.append(_client(name, password, f"device-{name}", client_id=name))
    return {
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": True,
            "subscribe": False,
            "unsubscribe": True,
        },
        "clients": clients,
        "groups": [],
        "roles": roles,
    }


def _acls(access: AclAccess, topic: str) -> list[dict[str, Any]]:
    kinds = {"write": ["publishClientSend"], "read": ["subscribePattern"]}
    kinds["readwrite"] = kinds["write"] + kinds["read"]
    return [
        {"acltype": kind, "topic": topic, "allow": True, "priority": 0} for kind in kinds[access]
    ]


def _client(name: str, password: str, role: str, *, client_id: str | None) -> dict[str, Any]:
    """One account; the password is stored as the plugin stores it (PBKDF2-SHA512, salted)."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    client: dict[str, Any] = {
        "username": name,
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": PBKDF2_ITERATIONS,
        "roles": [{"rolename": role}],
    }
    if client_id is not None:
        client["clientid"] = client_id
    return client


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (for demos and tests on one machine)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
