"""One builder, one parser; topics not ours or not the sender's are refused with a reason."""

from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import (
    Channel,
    CommandName,
    Envelope,
    EventKind,
    ProtocolError,
    Sender,
    ack_topic,
    command_topic,
    decode_on_topic,
    encode,
    event_topic,
    parse_topic,
    state_topic,
    topic_for,
)
from protocols.codec import decode_coordinator_state
from protocols.messages import Attendance, Birth, CoordinatorState, Death, Receipt
from protocols.topics import (
    coordinator_state_filter,
    coordinator_state_topic,
    device_acl_patterns,
    device_command_filter,
    fleet_filters,
    parse_coordinator_state_topic,
    receipt_topic,
    shared_filter,
)
from protocols.vocabulary import AttendanceAction, CoordinatorStatus, DeathCause
from tests.protocols.strategies import envelopes, names


@given(site=names, device=names, kind=st.sampled_from(EventKind))
def test_event_topics_round_trip(site: str, device: str, kind: EventKind) -> None:
    topic = parse_topic(event_topic(site, device, kind))
    assert (topic.site, topic.device_id, topic.channel, topic.name) == (
        site,
        device,
        Channel.EVENT,
        kind.value,
    )


@given(site=names, device=names, name=st.sampled_from(CommandName))
def test_other_topics_round_trip(site: str, device: str, name: CommandName) -> None:
    for built in (
        state_topic(site, device),
        ack_topic(site, device),
        command_topic(site, device, name),
    ):
        assert str(parse_topic(built)) == built


@given(envelopes())
def test_every_message_decodes_on_the_topic_it_is_sent_on(envelope: Envelope) -> None:
    if isinstance(envelope.payload, CoordinatorState):
        worker, decoded, _ = decode_coordinator_state(topic_for("main", envelope), encode(envelope))
        assert (worker, decoded) == (envelope.device_id, envelope)
        return
    topic = parse_topic(topic_for("main", envelope))
    assert decode_on_topic(topic, encode(envelope)) == envelope


def test_receipts_travel_on_the_devices_own_receipt_topic() -> None:
    receipt = Sender("door-01").state(Receipt(message_ids=[uuid4()]))
    topic = receipt_topic("main", "door-01")
    assert topic == "campus/v1/main/door-01/receipt" == topic_for("main", receipt)
    assert decode_on_topic(parse_topic(topic), encode(receipt)) == receipt
    with pytest.raises(ProtocolError, match="from device 'door-01' but came on the topic of"):
        decode_on_topic(parse_topic(receipt_topic("main", "door-02")), encode(receipt))
    attendance = Sender("door-01").sequenced(
        Attendance(action=AttendanceAction.CHECK_IN, person_ref="p1")
    )
    with pytest.raises(ProtocolError, match="'attendance' message does not belong on topic"):
        decode_on_topic(parse_topic(topic), encode(attendance))


def test_the_coordinators_state_topic_is_outside_every_device_namespace() -> None:
    topic = coordinator_state_topic("coordinator-ingest-1")
    assert topic == "campus/v1/coordinator/coordinator-ingest-1"
    assert parse_coordinator_state_topic(topic) == "coordinator-ingest-1"
    # Four levels: no device topic (five or six levels, `campus/v1/+/<id>/...`) can be it.
    for not_state in ("campus/v1/coordinator/x/state", "campus/v1/main/coordinator", "a/b/c/d"):
        assert parse_coordinator_state_topic(not_state) is None
    with pytest.raises(ProtocolError, match="worker id '#' is not valid"):
        coordinator_state_topic("#")
    online = Sender("coordinator-ingest-1").state(CoordinatorState(status=CoordinatorStatus.ONLINE))
    with pytest.raises(ProtocolError, match="state of worker 'coordinator-ingest-1' came on"):
        decode_coordinator_state(coordinator_state_topic("coordinator-ingest-2"), encode(online))
    birth = Sender("door-01").state(Birth(agent_version="1", profile="door"))
    with pytest.raises(ProtocolError, match="'birth' message does not belong"):
        decode_coordinator_state(coordinator_state_topic("door-01"), encode(birth))
    with pytest.raises(ProtocolError, match="is not a coordinator state topic"):
        decode_coordinator_state(state_topic("main", "door-01"), encode(online))


def test_device_access_rules_cover_receipts_and_the_coordinators_state() -> None:
    rules = device_acl_patterns()
    assert ("read", "campus/v1/+/%u/receipt") in rules
    assert ("read", coordinator_state_filter()) in rules
    assert all(access == "read" for access, topic in rules if "receipt" in topic)


@pytest.mark.parametrize(
    ("topic", "says"),
    [
        ("campus/v2/main/door-01/state", "is not campus/v1/"),
        ("other/v1/main/door-01/state", "is not campus/v1/"),
        ("campus/v1/main/door-01", "is not campus/v1/"),
        ("campus/v1/main/door-01/evt/heartbeat/extra", "is not campus/v1/"),
        ("campus/v1/main/door-01/gossip", "unknown channel 'gossip'"),
        ("campus/v1/main/door-01/evt/party", "needs one of attendance, access"),
        ("campus/v1/main/door-01/evt", "channel 'evt' needs one of"),
        ("campus/v1/main/door-01/state/extra", "takes no further level"),
        ("campus/v1/main/Door 01/state", "device id 'Door 01' is not valid"),
        ("campus/v1/+/door-01/state", "site '+' is not valid"),
    ],
)
def test_malformed_topics_are_refused_with_a_reason(topic: str, says: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        parse_topic(topic)
    assert says in str(raised.value)


def test_topics_of_another_site_or_device_are_refused() -> None:
    topic = state_topic("north", "door-02")
    with pytest.raises(ProtocolError, match="is for site 'north', expected 'main'"):
        parse_topic(topic, site="main")
    with pytest.raises(ProtocolError, match="belongs to device 'door-02', not 'door-01'"):
        parse_topic(topic, device_id="door-01")


def test_builders_refuse_wildcards_in_names() -> None:
    with pytest.raises(ProtocolError, match="device id '#' is not valid"):
        state_topic("main", "#")


def test_a_device_on_another_devices_topic_is_refused() -> None:
    envelope = Sender("door-01").state(Birth(agent_version="1", profile="door"))
    with pytest.raises(ProtocolError, match="from device 'door-01' but came on the topic of"):
        decode_on_topic(parse_topic(state_topic("main", "door-02")), encode(envelope))


def test_a_payload_on_the_wrong_topic_is_refused() -> None:
    sender = Sender("door-01")
    attendance = sender.sequenced(Attendance(action=AttendanceAction.CHECK_IN, person_ref="p1"))
    heartbeat_topic = parse_topic(event_topic("main", "door-01", EventKind.HEARTBEAT))
    with pytest.raises(ProtocolError, match="'attendance' message does not belong on topic"):
        decode_on_topic(heartbeat_topic, encode(attendance))
    death = sender.state(Death(cause=DeathCause.SHUTDOWN))
    with pytest.raises(ProtocolError, match="'death' message does not belong"):
        decode_on_topic(heartbeat_topic, encode(death))


def test_subscription_filters() -> None:
    assert fleet_filters("main") == [
        "campus/v1/main/+/evt/+",
        "campus/v1/main/+/state",
        "campus/v1/main/+/ack",
    ]
    assert fleet_filters()[0] == "campus/v1/+/+/evt/+"
    assert device_command_filter("main", "door-01") == "campus/v1/main/door-01/cmd/+"
    assert shared_filter("coordinator", "a/b") == "$share/coordinator/a/b"
