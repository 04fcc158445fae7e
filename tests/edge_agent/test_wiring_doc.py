"""The wiring table in docs/station.md says what the shipped profiles say, pin for pin."""

from edge_agent.profile import available_profiles, load_profile
from edge_agent.profile_parts import HEADER_PIN
from tests.conftest import REPO


def documented_wiring() -> dict[str, dict[str, str]]:
    """{profile: {part: cell}} from the table between the wiring-table markers."""
    text = (REPO / "docs" / "station.md").read_text()
    table = text.split("<!-- wiring-table -->")[1].split("<!-- /wiring-table -->")[0]
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in table.strip().splitlines()
    ]
    header, body = rows[0], rows[2:]
    return {
        profile: {row[0]: row[column] for row in body if row[column] != "—"}
        for column, profile in enumerate(header[1:], start=1)
    }


def test_the_wiring_table_matches_every_profile() -> None:
    documented = documented_wiring()
    assert set(documented) == set(available_profiles())
    for name in available_profiles():
        pins = load_profile(name).pins.uses()
        expected = {use: f"GPIO {pin} (pin {HEADER_PIN[pin]})" for use, pin in pins.items()}
        assert documented[name] == expected, name
