"""Identifiers on the wire: time-ordered message ids, boot ids and the pattern device ids follow."""

from uuid import UUID

import uuid6

# Site and device ids appear as MQTT topic levels, so they must never hold '/', '+', '#' or spaces.
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


def new_message_id() -> UUID:
    """A UUIDv7: sorts by creation time, so ids double as an arrival-order hint in the database."""
    return uuid6.uuid7()


def new_boot_id() -> UUID:
    """A fresh id for each start of a process, like Sparkplug's bdSeq, but unique without state."""
    return uuid6.uuid7()
