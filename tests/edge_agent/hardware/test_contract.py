"""One contract per part, run against every driver that loads on this machine.

Each driver is one row: a function that builds the part on the stack of things to clean up and
returns it with the means to play the world (present a card, open the door, give a fix). The
fakes always run; real drivers run where their library and device exist: gpiozero on its
MockFactory, pyserial and gpsd over a local socket, OpenCV on image and video files, evdev only
where /dev/uinput lets the test create a keyboard, picamera2 only on a Raspberry Pi.
"""

import contextlib
import importlib.util
import os
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_agent.hardware.base import (
    Beeps,
    Buzzer,
    Camera,
    CardReader,
    DoorContact,
    DoorRelay,
    LocationSource,
    QrScanner,
    StatusLed,
)
from edge_agent.hardware.errors import CardFormatError
from edge_agent.hardware.fakes import (
    FakeBuzzer,
    FakeCamera,
    FakeCardReader,
    FakeDoorContact,
    FakeDoorRelay,
    FakeLocation,
    FakeQrScanner,
    FakeStatusLed,
)
from edge_agent.hardware.gpio import (
    GpioBuzzerPart,
    GpioDoorContact,
    GpioDoorRelay,
    GpioStatusLed,
    make_pin_factory,
)
from edge_agent.hardware.gpsd import GpsdLocationSource
from edge_agent.hardware.location import FixedLocationSource
from edge_agent.hardware.serial_input import NmeaLocationSource, SerialCardReader
from edge_agent.profile_parts import (
    BuzzerPin,
    DoorContactPin,
    FilesCamera,
    FixedLocation,
    GpsdLocation,
    LockWiring,
    NmeaLocation,
    OpenCvCamera,
    Picamera2Camera,
    PinFactory,
    RelayPins,
    SerialReader,
)
from tests.edge_agent.hardware.byte_server import ByteServer
from tests.edge_agent.hardware.qr_frames import frame_with

WIDTH, HEIGHT = 320, 240
READ_TIMEOUT_S = 5.0
HAS_UINPUT = os.access("/dev/uinput", os.W_OK)
HAS_PICAMERA2 = importlib.util.find_spec("picamera2") is not None


def only_if(condition: bool, reason: str) -> dict[str, Any]:
    return {"marks": pytest.mark.skipif(not condition, reason=reason)}


@pytest.fixture
def stack() -> Any:
    with ExitStack() as resources:
        yield resources


def picture(seed: int = 1) -> np.ndarray[Any, np.dtype[np.uint8]]:
    return np.random.default_rng(seed).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)


# --- cameras ------------------------------------------------------------------------------------


def _cv2() -> Any:
    import cv2

    return cv2


def fake_camera(stack: ExitStack, tmp: Path) -> Camera:
    return FakeCamera([picture(1), picture(2)])


def image_file_camera(stack: ExitStack, tmp: Path) -> Camera:
    _cv2().imwrite(str(tmp / "still.png"), picture())
    config = FilesCamera(driver="files", path=tmp / "still.png", width=WIDTH, height=HEIGHT)
    from edge_agent.hardware.cameras import FilesCameraDriver

    return stack.enter_context(FilesCameraDriver(config, config.path))


def folder_camera(stack: ExitStack, tmp: Path) -> Camera:
    for number in range(3):
        _cv2().imwrite(str(tmp / f"frame-{number}.png"), picture(number))
    (tmp / "notes.txt").write_text("not an image")
    config = FilesCamera(driver="files", path=tmp, width=WIDTH, height=HEIGHT)
    from edge_agent.hardware.cameras import FilesCameraDriver

    return stack.enter_context(FilesCameraDriver(config, tmp))


def _video(tmp: Path) -> Path:
    cv2 = _cv2()
    path = tmp / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (WIDTH, HEIGHT))
    for number in range(8):
        writer.write(picture(number))
    writer.release()
    return path


def video_file_camera(stack: ExitStack, tmp: Path) -> Camera:
    from edge_agent.hardware.cameras import FilesCameraDriver

    config = FilesCamera(driver="files", path=_video(tmp), width=WIDTH, height=HEIGHT)
    return stack.enter_context(FilesCameraDriver(config, config.path))


def opencv_camera(stack: ExitStack, tmp: Path) -> Camera:
    from edge_agent.hardware.cameras import OpenCvCameraDriver

    # A video path through the same VideoCapture a V4L2 device uses; resized to the profile's.
    config = OpenCvCamera(driver="opencv", device=str(_video(tmp)), width=160, height=120)
    return stack.enter_context(OpenCvCameraDriver(config))


def picamera2_camera(stack: ExitStack, tmp: Path) -> Camera:
    from edge_agent.hardware.cameras import Picamera2CameraDriver

    config = Picamera2Camera(driver="picamera2", width=WIDTH, height=HEIGHT)
    return stack.enter_context(Picamera2CameraDriver(config))


CAMERAS = [
    pytest.param(fake_camera, id="fake"),
    pytest.param(image_file_camera, id="files-image"),
    pytest.param(folder_camera, id="files-folder"),
    pytest.param(video_file_camera, id="files-video"),
    pytest.param(opencv_camera, id="opencv"),
    pytest.param(picamera2_camera, id="picamera2", **only_if(HAS_PICAMERA2, "not a Pi")),
]


@pytest.mark.parametrize("make", CAMERAS)
def test_camera_delivers_rgb_frames(
    make: Callable[[ExitStack, Path], Camera], stack: ExitStack, tmp_path: Path
) -> None:
    camera = make(stack, tmp_path)
    for frame in [camera.capture(), *camera.capture_burst(5)]:
        assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
        assert frame.shape[0] >= 64 and frame.shape[1] >= 64
        assert frame.std() > 0  # a picture, not an empty buffer
    camera.close()
    camera.close()  # twice is fine


# --- card readers -------------------------------------------------------------------------------

Send = Callable[[str], None]


def fake_reader(stack: ExitStack) -> tuple[CardReader, Send]:
    reader = FakeCardReader()

    def present(text: str) -> None:
        # A fake card cannot carry a malformed UID: nothing arrives.
        with contextlib.suppress(CardFormatError):
            reader.present(text)

    return reader, present


def serial_reader(stack: ExitStack) -> tuple[CardReader, Send]:
    server = stack.enter_context(_closing(ByteServer()))
    config = SerialReader(driver="serial", port=server.url)
    reader = stack.enter_context(SerialCardReader(config))
    return reader, lambda text: server.send(b"\x02" + text.encode() + b"\x03")


def evdev_reader(stack: ExitStack) -> tuple[CardReader, Send]:
    import evdev

    from edge_agent.hardware.evdev_input import EvdevCardReader
    from edge_agent.profile_parts import EvdevReader

    keyboard = stack.enter_context(evdev.UInput(name="contract-test-wedge"))
    config = EvdevReader(driver="evdev", device=Path(str(keyboard.device.path)))
    reader = stack.enter_context(EvdevCardReader(config))

    def type_text(text: str) -> None:
        for char in [*text, "\n"]:
            name = "KEY_ENTER" if char == "\n" else f"KEY_{char.upper()}"
            code = evdev.ecodes.ecodes.get(name)
            if code is None:
                continue
            for value in (1, 0):
                keyboard.write(evdev.ecodes.EV_KEY, code, value)
                keyboard.syn()

    return reader, type_text


def _closing(server: ByteServer) -> Any:
    from contextlib import closing

    return closing(server)


CARD_READERS = [
    pytest.param(fake_reader, id="fake"),
    pytest.param(serial_reader, id="serial"),
    pytest.param(evdev_reader, id="evdev", **only_if(HAS_UINPUT, "no /dev/uinput here")),
]


@pytest.mark.parametrize("make", CARD_READERS)
def test_card_reader_gives_each_card_once_normalised(
    make: Callable[[ExitStack], tuple[CardReader, Send]], stack: ExitStack
) -> None:
    reader, present = make(stack)
    assert reader.read(0) is None
    present("04a1b2c3")
    assert reader.read(READ_TIMEOUT_S) == "04A1B2C3"
    assert reader.read(0) is None


@pytest.mark.parametrize("make", CARD_READERS)
def test_card_reader_drops_what_is_not_a_uid_and_reads_on(
    make: Callable[[ExitStack], tuple[CardReader, Send]], stack: ExitStack
) -> None:
    reader, present = make(stack)
    present("zz")
    present("DEADBEEF")
    assert reader.read(READ_TIMEOUT_S) == "DEADBEEF"


# --- QR scanners ---------------------------------------------------------------------------

Show = Callable[[str], None]


def fake_qr(stack: ExitStack) -> tuple[QrScanner, Show]:
    scanner = FakeQrScanner()
    return scanner, scanner.show


def camera_qr(decoder: str) -> Callable[[ExitStack], tuple[QrScanner, Show]]:
    def make(stack: ExitStack) -> tuple[QrScanner, Show]:
        from edge_agent.hardware.qr_camera import CameraQrScanner, QrDecoder

        camera = FakeCamera([np.full((480, 640, 3), 200, dtype=np.uint8)])
        scanner = CameraQrScanner(camera, decoder=QrDecoder(decoder))
        return scanner, lambda text: camera.show(frame_with(text))

    return make


QR_SCANNERS = [
    pytest.param(fake_qr, id="fake"),
    pytest.param(camera_qr("zxing"), id="camera-zxing"),
    pytest.param(camera_qr("pyzbar"), id="camera-pyzbar"),
]


@pytest.mark.parametrize("make", QR_SCANNERS)
def test_qr_scanner_reads_a_shown_code_once(
    make: Callable[[ExitStack], tuple[QrScanner, Show]], stack: ExitStack
) -> None:
    scanner, show = make(stack)
    assert scanner.read(0) is None
    show("CP1:TEST-PASS-0042")
    assert scanner.read(READ_TIMEOUT_S) == "CP1:TEST-PASS-0042"


# --- outputs ------------------------------------------------------------------------------------


def mock_factory(stack: ExitStack) -> Any:
    factory = make_pin_factory(PinFactory.MOCK)
    stack.callback(factory.close)
    return factory


RELAYS = [
    pytest.param(lambda stack: FakeDoorRelay(None), id="fake"),
    pytest.param(
        lambda stack: GpioDoorRelay(
            RelayPins(pin=17, lock=LockWiring.FAIL_SECURE), mock_factory(stack)
        ),
        id="gpiozero-fail-secure",
    ),
    pytest.param(
        lambda stack: GpioDoorRelay(
            RelayPins(pin=17, lock=LockWiring.FAIL_SAFE), mock_factory(stack)
        ),
        id="gpiozero-fail-safe",
    ),
]


@pytest.mark.parametrize("make", RELAYS)
def test_relay_starts_locked_unlocks_locks_and_pulses(
    make: Callable[[ExitStack], DoorRelay], stack: ExitStack
) -> None:
    relay = stack.enter_context(make(stack))
    assert not relay.is_unlocked
    relay.unlock()
    assert relay.is_unlocked
    relay.lock()
    assert not relay.is_unlocked
    relay.pulse(30)
    assert relay.is_unlocked
    relay.lock()
    assert not relay.is_unlocked


LEDS = [
    pytest.param(lambda stack: FakeStatusLed(None), id="fake"),
    pytest.param(
        lambda stack: GpioStatusLed(22, colour="green", pin_factory=mock_factory(stack)),
        id="gpiozero",
    ),
]


@pytest.mark.parametrize("make", LEDS)
def test_status_led_lights_blinks_and_goes_out(
    make: Callable[[ExitStack], StatusLed], stack: ExitStack
) -> None:
    led = stack.enter_context(make(stack))
    assert not led.is_lit
    led.on()
    assert led.is_lit
    led.blink(0.5, 0.5)
    led.off()
    assert not led.is_lit


BUZZERS = [
    pytest.param(lambda stack: FakeBuzzer(None), id="fake"),
    pytest.param(
        lambda stack: GpioBuzzerPart(BuzzerPin(pin=18), mock_factory(stack)), id="gpiozero"
    ),
]


@pytest.mark.parametrize("make", BUZZERS)
def test_buzzer_sounds_a_pattern_until_silenced(
    make: Callable[[ExitStack], Buzzer], stack: ExitStack
) -> None:
    buzzer = stack.enter_context(make(stack))
    assert not buzzer.is_sounding
    buzzer.play(Beeps.ALARM)
    assert buzzer.is_sounding
    buzzer.silence()
    assert not buzzer.is_sounding


Door = Callable[[bool], None]


def fake_contact(stack: ExitStack) -> tuple[DoorContact, Door]:
    contact = FakeDoorContact()
    return contact, lambda is_open: contact.open_door() if is_open else contact.shut_door()


def gpio_contact(stack: ExitStack) -> tuple[DoorContact, Door]:
    factory = mock_factory(stack)
    contact = stack.enter_context(GpioDoorContact(DoorContactPin(pin=24, bounce_s=0), factory))
    pin = factory.pin(24)
    pin.drive_low()  # pulled up; the closed reed switch pulls it to ground
    return contact, lambda is_open: pin.drive_high() if is_open else pin.drive_low()


@pytest.mark.parametrize(
    "make", [pytest.param(fake_contact, id="fake"), pytest.param(gpio_contact, id="gpiozero")]
)
def test_door_contact_reports_moves_through_its_callbacks(
    make: Callable[[ExitStack], tuple[DoorContact, Door]], stack: ExitStack
) -> None:
    contact, move = make(stack)
    seen: list[str] = []
    contact.when_opened = lambda: seen.append("opened")
    contact.when_closed = lambda: seen.append("closed")
    assert not contact.is_open
    move(True)
    assert contact.is_open
    move(False)
    assert not contact.is_open
    assert seen == ["opened", "closed"]


# --- location -----------------------------------------------------------------------------------

Fix = Callable[[float, float], None]
LAT, LON = 48.2082, 16.3738


def fake_location(stack: ExitStack) -> tuple[LocationSource, Fix | None]:
    location = FakeLocation()
    return location, location.move_to


def fixed_location(stack: ExitStack) -> tuple[LocationSource, Fix | None]:
    return FixedLocationSource(FixedLocation(driver="fixed", latitude=LAT, longitude=LON)), None


def _nmea_degrees(value: float, width: int) -> str:
    degrees = int(abs(value))
    return f"{degrees:0{width}d}{(abs(value) - degrees) * 60:07.4f}"


def gga_sentence(lat: float, lon: float) -> bytes:
    body = (
        f"GPGGA,123519,{_nmea_degrees(lat, 2)},{'N' if lat >= 0 else 'S'},"
        f"{_nmea_degrees(lon, 3)},{'E' if lon >= 0 else 'W'},1,08,0.9,545.4,M,46.9,M,,"
    )
    checksum = 0
    for char in body.encode():
        checksum ^= char
    return f"${body}*{checksum:02X}\r\n".encode()


def nmea_location(stack: ExitStack) -> tuple[LocationSource, Fix | None]:
    server = stack.enter_context(_closing(ByteServer()))
    location = stack.enter_context(NmeaLocationSource(NmeaLocation(driver="nmea", port=server.url)))
    return location, lambda lat, lon: server.send(b"$GPGSV,garbage*00\r\n" + gga_sentence(lat, lon))


def gpsd_location(stack: ExitStack) -> tuple[LocationSource, Fix | None]:
    server = stack.enter_context(_closing(ByteServer()))
    location = stack.enter_context(
        GpsdLocationSource(GpsdLocation(driver="gpsd", port=server.port))
    )

    def report(lat: float, lon: float) -> None:
        server.send(b'{"class":"VERSION","release":"3.25"}\n{"class":"TPV","mode":1}\n')
        server.send(f'{{"class":"TPV","mode":3,"lat":{lat},"lon":{lon},"eph":4.2}}\n'.encode())

    return location, report


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(fake_location, id="fake"),
        pytest.param(fixed_location, id="fixed"),
        pytest.param(nmea_location, id="nmea"),
        pytest.param(gpsd_location, id="gpsd"),
    ],
)
def test_location_source_gives_the_position_once_there_is_a_fix(
    make: Callable[[ExitStack], tuple[LocationSource, Fix | None]], stack: ExitStack
) -> None:
    location, give_fix = make(stack)
    if give_fix is not None:
        assert location.read(0) is None
        give_fix(LAT, LON)
    position = location.read(READ_TIMEOUT_S)
    assert position is not None
    assert position.latitude == pytest.approx(LAT, abs=1e-5)
    assert position.longitude == pytest.approx(LON, abs=1e-5)
    assert position.accuracy_m is None or 0 <= position.accuracy_m < 100
