"""The one error the wire raises: every refusal says what was wrong in words a person can act on."""


class ProtocolError(ValueError):
    """A message, topic or payload that does not follow the campus protocol.

    Raised for malformed bytes, oversized messages, unknown message types, topics with wrong
    segments, and messages whose topic and envelope disagree. Receivers record it with its reason
    and skip the message; it is never fatal.
    """
