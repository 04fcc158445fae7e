"""One builder, one parser; topics not ours or not the sender's are refused with a reason."""

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
from protocols.messages import Attendance, AttendanceAction, Birth, Death, DeathCause
from protocols.topics import device_command_filter, fleet_filters, shared_filter
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
    topic = parse_topic(topic_for("main", envelope))
    assert decode_on_topic(topic, encode(envelope)) == envelope


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
