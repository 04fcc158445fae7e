"""`edge-agent`: run simulated devices (and, with the station issues, real ones)."""

import logging
import signal
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from edge_agent.config import BrokerConfig, load_config
from edge_agent.errors import EdgeError
from edge_agent.simulate import SimulationPlan, read_credentials, run_simulation
from edge_agent.simulate_script import load_script, run_script
from edge_agent.store.bundle import BundleStore
from edge_agent.store.device_key import create_device_key
from protocols import ProtocolError

app = typer.Typer(add_completion=False, help="Campus edge agent.", no_args_is_help=True)


@app.command()
def simulate(
    devices: Annotated[int, typer.Option(min=1, max=500, help="How many devices.")] = 3,
    site: Annotated[str, typer.Option(help="Site id the devices belong to.")] = "demo",
    broker_host: Annotated[str, typer.Option(help="MQTT broker host.")] = "127.0.0.1",
    broker_port: Annotated[int, typer.Option(help="MQTT broker port.")] = 1883,
    credentials: Annotated[
        Path | None, typer.Option(help="File of 'device_id password' lines.")
    ] = None,
    data_dir: Annotated[Path, typer.Option(help="Where device outboxes live.")] = Path(
        ".sim-devices"
    ),
    attendance: Annotated[int, typer.Option(min=0, help="Card taps per device.")] = 3,
    heartbeats: Annotated[int, typer.Option(min=0, help="Heartbeats per device.")] = 1,
    interval: Annotated[float, typer.Option(min=0.0, help="Seconds between actions.")] = 1.0,
    forever: Annotated[bool, typer.Option(help="Keep going until stopped (Ctrl-C).")] = False,
    id_prefix: Annotated[
        str, typer.Option(help="Device ids are PREFIX-01, PREFIX-02, ...")
    ] = "sim",
    refusals: Annotated[
        bool, typer.Option(help="Make every fourth tap a refused one (unknown card, photo).")
    ] = False,
    script: Annotated[
        Path | None,
        typer.Option(
            help="Play this script (JSON; `make demo` writes .demo/script.json) on provisioned "
            "devices that take their bundles from the coordinator; the devices and site come "
            "from the script. Without it, each device makes its own local bundle."
        ),
    ] = None,
) -> None:
    """Run simulated door stations: scripted supervisors tap cards and show their faces."""
    scripted = load_script(script) if script is not None else None
    if scripted is not None:
        devices, site = len(scripted.devices), scripted.site
    plan = SimulationPlan(
        devices=devices,
        site=site,
        data_dir=data_dir,
        broker=BrokerConfig(host=broker_host, port=broker_port),
        credentials=read_credentials(credentials),
        attendance=attendance,
        heartbeats=heartbeats,
        interval_s=interval,
        forever=forever,
        id_prefix=id_prefix,
        refusals=refusals,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    typer.echo(f"simulating {devices} device(s) on site {site!r} via {broker_host}:{broker_port}")
    reports = run_simulation(plan, stop) if scripted is None else run_script(plan, scripted, stop)
    for report in reports:
        state = (
            "all stored by the coordinator"
            if report.left_in_outbox == 0
            else "at the broker, kept until the coordinator's receipt"
            if report.all_sent
            else "NOT delivered"
        )
        typer.echo(
            f"{report.device_id}: {report.recorded} recorded, "
            f"{report.left_in_outbox} left in outbox ({state})"
        )
    if not all(report.all_sent for report in reports):
        raise typer.Exit(1)


keys = typer.Typer(help="The device's own key and the coordinator keys it trusts.")
app.add_typer(keys, name="keys")


@keys.command("init")
def init_device_key(
    key_file: Annotated[Path, typer.Option(help="Where the private key is kept (0600).")],
    replace: Annotated[bool, typer.Option(help="Make a new key over an existing one.")] = False,
) -> None:
    """Make this device's X25519 key pair and print the public key to register."""
    public = create_device_key(key_file, replace=replace)
    typer.echo(public)
    typer.echo(
        'register it: PATCH /api/v1/devices/<device id> with {"public_key": "' + public + '"}',
        err=True,
    )


@keys.command("trust")
def trust_signing_key(
    store: Annotated[Path, typer.Option(help="The device's bundle store (SQLite).")],
    key_id: Annotated[str, typer.Argument(help="Id of the coordinator's signing key.")],
    public_key: Annotated[str, typer.Argument(help="Its public key (base64), from the server.")],
) -> None:
    """Trust a coordinator signing key (provisioning); later bundles rotate the set."""
    bundle_store = BundleStore(store)
    try:
        bundle_store.trust(key_id, public_key)
    except ProtocolError as error:
        raise typer.BadParameter(str(error)) from None
    finally:
        bundle_store.close()
    typer.echo(f"trusting signing key {key_id}")


@app.command()
def run(
    config: Annotated[Path, typer.Option(help="The agent's YAML config (device id, profile...).")],
    bundle: Annotated[
        Path | None, typer.Option(help="A bundle file to serve from until the downlink sends one.")
    ] = None,
    allow_unsigned_bundle: Annotated[
        bool, typer.Option(help="Accept an unsigned bundle file (development only).")
    ] = False,
) -> None:
    """Run a door or gate station: the production entry point (deploy/edge-agent.service)."""
    from edge_agent.gate_runtime import run_station  # noqa: PLC0415 - hardware and models

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_station(load_config(config), stop, bundle, allow_unsigned=allow_unsigned_bundle)


@app.command()
def doctor(
    config: Annotated[Path, typer.Option(help="The agent's YAML config.")],
) -> None:
    """Check the profile, each part, the models, the clock and the broker; say how to fix."""
    from edge_agent.doctor import examine  # noqa: PLC0415 - loads drivers and models

    findings = list(_echoed(examine(load_config(config))))
    failed = [finding for finding in findings if not finding.is_ok]
    typer.echo(f"{len(findings) - len(failed)} ok, {len(failed)} to fix")
    if failed:
        raise typer.Exit(1)


def _echoed(findings: Iterable[object]) -> Iterator[Any]:
    for finding in findings:
        typer.echo(str(finding))
        yield finding


@app.callback()
def _root() -> None:
    """Campus edge agent: door and gate stations, and simulated devices."""


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        app()
    except EdgeError as error:
        typer.echo(f"edge-agent: {error}", err=True)
        raise SystemExit(2) from None
