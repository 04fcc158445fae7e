"""NMEA and gpsd input from a receiver that misbehaves: no fix, bad checksums, junk, huge lines."""

import json
from contextlib import closing

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.hardware.gpsd import GpsdLocationSource, position_from_tpv
from edge_agent.hardware.serial_input import NmeaLocationSource, position_from_nmea
from edge_agent.profile_parts import GpsdLocation, NmeaLocation
from tests.edge_agent.hardware.byte_server import ByteServer
from tests.edge_agent.hardware.test_contract import gga_sentence

# From the NMEA 0183 reference examples (checksums as published).
RMC = "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A"
RMC_VOID = "$GPRMC,123519,V,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*7D"
GGA = "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47"


def test_gga_and_rmc_give_positions() -> None:
    gga = position_from_nmea(GGA)
    assert gga is not None
    assert (gga.latitude, gga.longitude) == pytest.approx((48.1173, 11.516667), abs=1e-5)
    assert gga.accuracy_m == pytest.approx(4.5)  # HDOP 0.9 x 5 m
    rmc = position_from_nmea(RMC)
    assert rmc is not None and rmc.fixed_at is not None and rmc.fixed_at.year == 1994


@pytest.mark.parametrize(
    "line",
    [
        RMC_VOID,  # receiver says: no valid fix
        GGA.replace("*47", "*48"),  # checksum wrong
        "$GPGGA,123519,4807.038,N,01131.000,E,0,08,0.9,545.4,M,46.9,M,,*46",  # GGA, no fix
        "$GPGSV,3,1,11,03,03,111,00*74",  # satellites, not a position
        "$GPGGA,123519,9907.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*4B",  # latitude 99
        "",
        "\x00\x00\x00",
    ],
)
def test_sentences_without_a_usable_fix_give_none(line: str) -> None:
    assert position_from_nmea(line) is None


@given(st.text(max_size=120))
def test_any_line_gives_a_position_or_none(line: str) -> None:
    position_from_nmea(line)


def test_the_nmea_driver_survives_an_endless_line_and_reads_on() -> None:
    with closing(ByteServer()) as server:
        source = NmeaLocationSource(NmeaLocation(driver="nmea", port=server.url))
        server.send(b"$" + b"9" * 100_000 + b"\r\n" + gga_sentence(10.5, -20.25))
        position = source.read(5)
        source.close()
    assert position is not None and position.longitude == pytest.approx(-20.25)


@pytest.mark.parametrize(
    "report",
    [
        {"class": "TPV", "mode": 3, "lat": float("nan"), "lon": 1.0},
        {"class": "TPV", "mode": 3, "lat": 91.0, "lon": 1.0},
        {"class": "TPV", "mode": 3, "lat": "48", "lon": 1.0},
        {"class": "TPV", "mode": 3, "lat": True, "lon": 1.0},
        {"class": "TPV", "mode": 1, "lat": 48.0, "lon": 1.0},
        {"class": "SKY"},
        ["TPV"],
    ],
)
def test_gpsd_reports_without_a_usable_fix_give_none(report: object) -> None:
    assert position_from_tpv(report) is None


def test_the_gpsd_driver_skips_junk_and_overlong_lines() -> None:
    with closing(ByteServer()) as server:
        source = GpsdLocationSource(GpsdLocation(driver="gpsd", port=server.port))
        server.send(b"not json\n" + b"[" * 5000 + b"\n" + b"x" * 40_000)
        assert source.read(0.2) is None
        fix = {
            "class": "TPV",
            "mode": 2,
            "lat": -33.9,
            "lon": 151.2,
            "time": "2026-11-28T10:00:00Z",
        }
        server.send(b"\n" + json.dumps(fix).encode() + b"\n")
        position = source.read(5)
        source.close()
        assert b"WATCH" in server.received
    assert position is not None and position.latitude == pytest.approx(-33.9)
    assert position.fixed_at is not None and position.fixed_at.tzinfo is not None


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
TPV_LIKE = st.fixed_dictionaries(
    {"class": st.just("TPV"), "mode": JSON, "lat": JSON, "lon": JSON},
    optional={"eph": JSON, "time": JSON},
)


@given(JSON | TPV_LIKE)
def test_any_gpsd_report_gives_a_position_on_earth_or_none(report: object) -> None:
    position = position_from_tpv(report)
    assert position is None or (-90 <= position.latitude <= 90)
