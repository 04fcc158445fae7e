"""The dlib .dat parser and the numpy oracle that the golden tests and the build rely on."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
from dlib_resnet import (
    AddPrev,
    Conv,
    DlibFormatError,
    FullyConnected,
    Skip,
    Tag,
    add_prev,
    anet_layout,
    parse_dlib_resnet,
    reference_descriptor,
)

from tests.models.dlib_writer import synthetic_resnet

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHED_SDIST = REPO_ROOT / "models/.build/downloads/face_recognition_models-0.3.0.tar.gz"
DAT_MEMBER = (
    "face_recognition_models-0.3.0/face_recognition_models/models/"
    "dlib_face_recognition_resnet_model_v1.dat"
)


def _real_dat() -> bytes:
    with tarfile.open(CACHED_SDIST) as sdist:
        member = sdist.extractfile(DAT_MEMBER)
        assert member is not None
        return member.read()


# The real file joins in wherever `python models/build.py` has cached it; the synthetic file,
# written in dlib's format by the test, keeps the check meaningful on a fresh clone.
SOURCES = ["synthetic"] + (
    ["cached face_recognition_models sdist"] if CACHED_SDIST.exists() else []
)


def _source_bytes(source: str) -> bytes:
    return synthetic_resnet()[0] if source == "synthetic" else _real_dat()


@pytest.mark.parametrize("source", SOURCES)
def test_parser_consumes_every_byte_and_finds_anet_type(source: str) -> None:
    data = _source_bytes(source)
    net = parse_dlib_resnet(data)
    assert net.bytes_consumed == len(data)
    assert len(net.layers) == len(anet_layout()) == 130
    assert sum(isinstance(layer, Conv) for layer in net.layers) == 29
    assert [layer.tag_id for layer in net.layers if isinstance(layer, Skip)] == [1] * 4
    assert {layer.tag_id for layer in net.layers if isinstance(layer, AddPrev)} == {1, 2}
    assert net.loss_distance_threshold == pytest.approx(0.6)
    assert net.mean_rgb == pytest.approx((122.782, 117.001, 104.298), abs=1e-4)


def test_parsed_weights_are_the_written_ones() -> None:
    data, written = synthetic_resnet()
    net = parse_dlib_resnet(data)
    for index, expected in written.items():
        layer = net.layers[index]
        found = layer.filters if isinstance(layer, Conv) else layer.weights  # type: ignore[union-attr]
        np.testing.assert_array_equal(found, expected)


@pytest.mark.parametrize("damage", ["truncated", "trailing byte"])
def test_parser_refuses_a_damaged_file(damage: str) -> None:
    data = synthetic_resnet()[0]
    damaged = data[:-1] if damage == "truncated" else data + b"\0"
    with pytest.raises(DlibFormatError):
        parse_dlib_resnet(damaged)


def test_parser_refuses_a_different_network() -> None:
    data = synthetic_resnet()[0].replace(b"relu_", b"relx_", 1)
    with pytest.raises(DlibFormatError, match="relx_"):
        parse_dlib_resnet(data)


def test_add_prev_pads_the_smaller_operand_at_bottom_right_and_on_channels() -> None:
    main = np.ones((3, 3, 4))
    skip = np.full((4, 4, 2), 2.0)
    total = add_prev(main, skip)
    assert total.shape == (4, 4, 4)
    assert total[0, 0].tolist() == [3.0, 3.0, 1.0, 1.0]
    assert total[3, 3].tolist() == [2.0, 2.0, 0.0, 0.0]


def test_oracle_convolution_matches_a_direct_sum() -> None:
    data, _ = synthetic_resnet(seed=3)
    net = parse_dlib_resnet(data)
    first = net.layers[0]
    assert isinstance(first, Conv)
    rng = np.random.default_rng(0)
    chip = rng.integers(0, 256, (150, 150, 3), dtype=np.uint8)
    x = (chip - np.array(net.mean_rgb)) / 256.0
    from dlib_resnet import _conv

    out = _conv(x, first)
    row, col, f = 5, 9, 2  # stride 2, no padding: the window starts at (10, 18)
    window = x[2 * row : 2 * row + 3, 2 * col : 2 * col + 3]
    direct = np.sum(window * first.filters[f].transpose(1, 2, 0)) + first.bias[f]
    assert out[row, col, f] == pytest.approx(direct, rel=1e-9)


def test_oracle_runs_the_whole_synthetic_network() -> None:
    net = parse_dlib_resnet(synthetic_resnet()[0])
    chip = np.random.default_rng(1).integers(0, 256, (150, 150, 3), dtype=np.uint8)
    descriptor = reference_descriptor(net, chip)
    assert descriptor.shape == (3,)  # the synthetic fc has 3 outputs
    assert np.all(np.isfinite(descriptor))
    assert isinstance(net.layers[-1], FullyConnected)
    assert isinstance(net.layers[4], Tag)
