"""A door station run as its own process for the power-cut test: taps as fast as it can and
prints `shown <message id>` once each decision has been shown (after its event was committed).

    python -m tests.edge_agent.crash_agent DATA_DIR BROKER_PORT [--drain]

With `--drain` it makes no decisions, waits until the outbox is empty, prints `drained`, exits.
"""

import sys
from datetime import UTC, datetime
from pathlib import Path

from edge_agent.config import AgentConfig, BrokerConfig
from edge_agent.runtime import DoorAgent, load_door_profile
from edge_agent.stations.book import DoorBook
from protocols import Envelope, EventPayload
from tests.edge_agent.test_door_station import ScriptedVerifier

DEVICE, SITE = "door-01", "main"


def main() -> None:
    data_dir, port, is_drain = Path(sys.argv[1]), int(sys.argv[2]), "--drain" in sys.argv
    config = AgentConfig(
        device_id=DEVICE,
        site=SITE,
        profile="door-station-sim",
        data_dir=data_dir,
        broker=BrokerConfig(port=port, reconnect_min_s=1, reconnect_max_s=1),
    )
    agent = DoorAgent(
        config,
        load_door_profile(config),
        book=lambda: DoorBook(hash_card=lambda uid: uid),
        make_verifier=lambda profile: ScriptedVerifier(),
        wall_clock=lambda: datetime.now(UTC),
    )
    app = agent.app()
    app.start()
    assert agent.station is not None and agent.uplink is not None
    if is_drain:
        print("drained" if agent.uplink.wait_sent(60) else "not drained", flush=True)
        app.stop()
        return
    recorded: list[Envelope] = []
    record = agent.uplink.record

    def keep(payload: EventPayload) -> None:
        recorded.append(record(payload))

    agent.station._record = keep
    while True:  # until the power is cut
        agent.station.present("DEADBEEF")  # an unknown card: refused, and the refusal kept
        print(f"shown {recorded[-1].message_id}", flush=True)


if __name__ == "__main__":
    main()
