"""Decoding what readers send: keyboard-wedge keys, serial frames, UID formats; never a crash."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.hardware.base import normalise_uid
from edge_agent.hardware.errors import CardFormatError
from edge_agent.hardware.framing import KEY_DOWN, KEY_UP, ByteFramer, WedgeDecoder, uid_from_text
from edge_agent.profile_parts import UidFormat


def type_keys(decoder: WedgeDecoder, text: str, *, enter: bool = True) -> list[str]:
    """Feed the key events a wedge reader makes for `text` (shift for upper case)."""
    lines = []
    names = {c: f"KEY_{c.upper()}" for c in "0123456789abcdefghijklmnopqrstuvwxyz"}
    for char in text:
        shifted = char.isupper()
        if shifted:
            decoder.feed("KEY_LEFTSHIFT", KEY_DOWN)
        for value in (KEY_DOWN, KEY_UP):
            line = decoder.feed(names[char.lower()], value)
            if line is not None:
                lines.append(line)
        if shifted:
            decoder.feed("KEY_LEFTSHIFT", KEY_UP)
    if enter:
        line = decoder.feed("KEY_ENTER", KEY_DOWN)
        decoder.feed("KEY_ENTER", KEY_UP)
        if line is not None:
            lines.append(line)
    return lines


def test_wedge_decoder_frames_a_line_at_enter_with_shift() -> None:
    decoder = WedgeDecoder(max_chars=32)
    assert type_keys(decoder, "04A1b2C3", enter=False) == []
    assert decoder.feed("KEY_KPENTER", KEY_DOWN) == "04A1b2C3"
    assert type_keys(decoder, "DEADBEEF") == ["DEADBEEF"]


def test_wedge_decoder_drops_an_overlong_line_and_recovers() -> None:
    decoder = WedgeDecoder(max_chars=8)
    assert type_keys(decoder, "0123456789") == []
    assert type_keys(decoder, "0A0B0C0D") == ["0A0B0C0D"]


def test_wedge_decoder_ignores_autorepeat_and_unknown_keys() -> None:
    decoder = WedgeDecoder(max_chars=8)
    decoder.feed("KEY_1", KEY_DOWN)
    decoder.feed("KEY_1", 2)  # autorepeat
    decoder.feed("KEY_F13", KEY_DOWN)
    assert decoder.feed("KEY_ENTER", KEY_DOWN) == "1"
    assert decoder.feed("KEY_ENTER", KEY_DOWN) is None  # an empty line is no read


def test_byte_framer_finds_frames_between_noise_and_across_chunks() -> None:
    framer = ByteFramer(start=0x02, end=0x03, max_bytes=16)
    assert framer.feed(b"noise\x0204A1") == []
    assert framer.feed(b"B2C3\x03junk\x02DEAD") == [b"04A1B2C3"]
    assert framer.feed(b"BEEF\x03") == [b"DEADBEEF"]


def test_byte_framer_restarts_at_a_new_start_and_drops_overflow() -> None:
    framer = ByteFramer(start=0x02, end=0x03, max_bytes=4)
    assert framer.feed(b"\x02AB\x02CD\x03") == [b"CD"]
    assert framer.feed(b"\x02ABCDEFGH\x03\x02AB\x03") == [b"AB"]


def test_byte_framer_without_start_byte_splits_at_the_end_byte() -> None:
    framer = ByteFramer(start=None, end=0x0D, max_bytes=16)
    assert framer.feed(b"0A0B0C0D\r\r11223344\r") == [b"0A0B0C0D", b"11223344"]


@given(st.binary(max_size=2000))
def test_byte_framer_bounds_every_frame(data: bytes) -> None:
    frames = ByteFramer(start=0x02, end=0x03, max_bytes=32).feed(data)
    assert all(0 < len(frame) <= 32 for frame in frames)


@pytest.mark.parametrize(
    ("text", "uid_format", "reverse", "expected"),
    [
        ("04:a1:b2:c3", UidFormat.HEX, False, "04A1B2C3"),
        (" 04A1B2C3\r\n", UidFormat.HEX, False, "04A1B2C3"),
        ("04A1B2C3", UidFormat.HEX, True, "C3B2A104"),
        ("0011325123", UidFormat.DECIMAL, False, "00ACCEC3"),  # 11325123 = 0xACCEC3
        ("3283960580", UidFormat.DECIMAL, True, "0443BDC3"),  # 0xC3BD4304, LSB first
    ],
)
def test_uid_formats(text: str, uid_format: UidFormat, reverse: bool, expected: str) -> None:
    assert uid_from_text(text, uid_format, reverse_bytes=reverse) == expected


@pytest.mark.parametrize(
    ("text", "uid_format"),
    [
        ("", UidFormat.HEX),
        ("04A", UidFormat.HEX),
        ("04A1\x00B2C3", UidFormat.HEX),
        ("XYZW1234", UidFormat.HEX),
        ("F" * 65, UidFormat.HEX),
        ("12ab", UidFormat.DECIMAL),
        ("9" * 41, UidFormat.DECIMAL),
        ("١٢٣٤٥", UidFormat.DECIMAL),  # Arabic-Indic digits: isdigit() but not a reader's
    ],
)
def test_what_is_not_a_uid_is_refused_with_the_fix(text: str, uid_format: UidFormat) -> None:
    with pytest.raises(CardFormatError, match="uid_format"):
        uid_from_text(text, uid_format)


@given(st.text(max_size=100))
def test_normalise_uid_either_returns_hex_or_refuses(text: str) -> None:
    try:
        uid = normalise_uid(text)
    except CardFormatError:
        return
    assert 4 <= len(uid) <= 64 and all(c in "0123456789ABCDEF" for c in uid)


KEY_NAMES = st.sampled_from(
    ["KEY_A", "KEY_F", "KEY_1", "KEY_KP9", "KEY_LEFTSHIFT", "KEY_ENTER", "KEY_F13", "KEY_SPACE"]
)


@given(st.lists(st.tuples(KEY_NAMES, st.integers(min_value=-1, max_value=3)), max_size=300))
def test_wedge_decoder_never_yields_more_than_max_chars(events: list[tuple[str, int]]) -> None:
    decoder = WedgeDecoder(max_chars=16)
    for key, value in events:
        line = decoder.feed(key, value)
        assert line is None or 0 < len(line) <= 16
