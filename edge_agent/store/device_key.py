"""The device's own X25519 key: made on the device, kept in a 0600 file, never sent anywhere.

Only its public half leaves the device (registered with the coordinator), so only this device
can open what the coordinator seals to it: the card-hash key and people's face templates. They
are opened here, in memory, when a decision needs them, and never written down.
"""

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from edge_agent.errors import EdgeError
from protocols import ProtocolError
from protocols.bundle import Bundle, RosterEntry, card_key_context, templates_context
from protocols.sealing import (
    new_device_key,
    open_box,
    private_key_pem,
    public_key_text,
    read_private_key_pem,
)
from protocols.templates import unpack_templates


class DeviceKeyError(EdgeError, ValueError):
    """The device key file is missing, unreadable, or a secret does not open with it."""


def create_device_key(path: Path, *, replace: bool = False) -> str:
    """Make the key pair, write the private key (mode 0600) and return the public key text."""
    if path.exists() and not replace:
        raise DeviceKeyError(
            f"{path} already holds a device key; pass --replace to make a new one (the "
            "coordinator must then be given the new public key)"
        )
    key = new_device_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(private_key_pem(key))
    return public_key_text(key)


def load_device_key(path: Path) -> X25519PrivateKey:
    try:
        return read_private_key_pem(path.read_bytes())
    except OSError as error:
        raise DeviceKeyError(
            f"cannot read the device key {path}: {error}; make one with `edge-agent keys init`"
        ) from None
    except ProtocolError as error:
        raise DeviceKeyError(f"{path}: {error}") from None


class BundleSecrets:
    """Opens what a bundle carries sealed to this device, in memory, when it is needed."""

    def __init__(self, device_id: str, key: X25519PrivateKey) -> None:
        self._device_id = device_id
        self._key = key

    def card_key(self, bundle: Bundle) -> bytes:
        """The key that hashes a tapped card UID (protocols.cards.card_uid_hash)."""
        if bundle.card_key is None:
            raise DeviceKeyError("the bundle carries no card key")
        try:
            return open_box(bundle.card_key, self._key, card_key_context(self._device_id))
        except ProtocolError as error:
            raise DeviceKeyError(str(error)) from None

    def templates(self, person: RosterEntry) -> list[tuple[float, ...]]:
        """The person's face descriptors; empty when they have none."""
        if person.templates is None:
            return []
        bound_to = templates_context(self._device_id, person.person_ref)
        try:
            return unpack_templates(open_box(person.templates.sealed, self._key, bound_to))
        except ProtocolError as error:
            raise DeviceKeyError(f"templates of {person.person_ref}: {error}") from None
