"""Whatever is shown to a gate, it answers with a refusal and its reason, never a crash or an open.

Arbitrary text, byte corruptions of real printed and phone passes, and arbitrary bytes drawn as
a QR code and read by both decoders all end as a recorded `denied` with a pass reason.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_agent.hardware.qr_camera import QrDecoder, decode_qr, to_gray
from protocols import AccessDecision, ReasonCode
from protocols.base45 import b45decode, b45encode
from protocols.passes import ROTATING_PREFIX, STATIC_PREFIX, rotating_code
from tests.edge_agent.hardware.qr_frames import code_image, place
from tests.edge_agent.stations.gate_kit import NOW, PHONE_KEY, make_gate, phone_pass, static_pass

PASS_REFUSALS = {
    ReasonCode.NOT_A_PASS,
    ReasonCode.PASS_MALFORMED,
    ReasonCode.PASS_TRUNCATED,
    ReasonCode.PASS_FORGED,
    ReasonCode.PASS_UNKNOWN_KEY,
    ReasonCode.PASS_WRONG_SITE,
    ReasonCode.PASS_NOT_YET_VALID,
    ReasonCode.PASS_EXPIRED,
    ReasonCode.PASS_NEEDS_ROTATING_CODE,
    ReasonCode.PASS_CODE_FROM_FUTURE,
    ReasonCode.PASS_CODE_STALE,
}
GENUINE = {
    STATIC_PREFIX: b45decode(static_pass().removeprefix(STATIC_PREFIX)),
    ROTATING_PREFIX: b45decode(
        rotating_code(phone_pass(), PHONE_KEY, NOW).removeprefix(ROTATING_PREFIX)
    ),
}


def assert_refused_with_a_reason(text: str) -> ReasonCode:
    gate = make_gate()
    decision = gate.station.present_code(text)
    assert decision is not None
    assert decision.decision is AccessDecision.DENIED
    assert decision.reason in PASS_REFUSALS
    assert [event.reason for event in gate.recorder.events] == [decision.reason]
    assert not gate.relay.history
    return decision.reason


@st.composite
def corrupted(draw: st.DrawFn) -> str:
    """A genuine pass with bytes flipped, cut, inserted or swapped, re-encoded as a pass text."""
    prefix = draw(st.sampled_from(sorted(GENUINE)))
    data = bytearray(GENUINE[prefix])
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(data)))
        how = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        if how == "flip" and where < len(data):
            data[where] ^= draw(st.integers(1, 255))
        elif how == "cut" and where < len(data):
            del data[where]
        elif how == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[where:]
    if bytes(data) == GENUINE[prefix]:
        data.append(0)
    return prefix + b45encode(bytes(data))


@given(st.text(max_size=600))
@settings(max_examples=300, deadline=None)
def test_any_text_is_refused_with_a_reason(text: str) -> None:
    assert_refused_with_a_reason(text)


@given(st.sampled_from([STATIC_PREFIX, ROTATING_PREFIX]), st.text(max_size=600))
@settings(max_examples=200, deadline=None)
def test_any_text_after_a_pass_prefix_is_refused_with_a_reason(prefix: str, rest: str) -> None:
    assert_refused_with_a_reason(prefix + rest)


@given(corrupted())
@settings(max_examples=400, deadline=None)
def test_every_corruption_of_a_real_pass_is_refused_with_a_reason(text: str) -> None:
    assert_refused_with_a_reason(text)


@given(st.binary(min_size=1, max_size=120), st.sampled_from(list(QrDecoder)))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_bytes_in_a_qr_code_are_refused_after_decoding(data: bytes, decoder: QrDecoder) -> None:
    for text in decode_qr(to_gray(place(code_image(data, 3), (400, 400))), decoder):
        assert_refused_with_a_reason(text)
