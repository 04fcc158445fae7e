"""Base45 (RFC 9285): bytes as text in the QR alphanumeric alphabet, 1.5 characters per byte.

A QR code in alphanumeric mode stores 5.5 bits per character, so Base45 text fills it about as
densely as binary mode would, and ZBar reads it back without mangling bytes above 0x7F.
"""

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_VALUE = {character: value for value, character in enumerate(ALPHABET)}


def b45encode(data: bytes) -> str:
    characters: list[str] = []
    for start in range(0, len(data) - 1, 2):
        number = data[start] * 256 + data[start + 1]
        high, rest = divmod(number, 45 * 45)
        middle, low = divmod(rest, 45)
        characters += (ALPHABET[low], ALPHABET[middle], ALPHABET[high])
    if len(data) % 2:
        middle, low = divmod(data[-1], 45)
        characters += (ALPHABET[low], ALPHABET[middle])
    return "".join(characters)


def b45decode(text: str) -> bytes:
    """The bytes `text` encodes; ValueError if it is not Base45 (wrong character or length)."""
    if len(text) % 3 == 1:
        raise ValueError(f"Base45 text cannot be {len(text)} characters long")
    try:
        values = [_VALUE[character] for character in text]
    except KeyError as error:
        raise ValueError(f"{error.args[0]!r} is not a Base45 character") from None
    decoded = bytearray()
    for start in range(0, len(values), 3):
        group = values[start : start + 3]
        number = sum(value * 45**power for power, value in enumerate(group))
        if len(group) == 3:
            if number > 0xFFFF:
                raise ValueError("Base45 group out of range")
            decoded += bytes(divmod(number, 256))
        else:
            if number > 0xFF:
                raise ValueError("Base45 group out of range")
            decoded.append(number)
    return bytes(decoded)
