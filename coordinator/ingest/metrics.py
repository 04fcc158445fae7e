"""The ingest's Prometheus metrics, in one registry per process (so tests can make many)."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from coordinator.services.events import IngestReport

BATCH_SIZES = (1, 5, 10, 25, 50, 100, 200, 500, 1000)
COMMIT_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class IngestMetrics:
    """Counters the worker updates per batch, gauges the `/metrics` route refreshes per scrape."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.events_stored = Counter(
            "campus_ingest_events_stored",
            "Device messages stored for the first time, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "campus_ingest_duplicates",
            "Deliveries skipped because the message was already stored.",
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "campus_ingest_dead_letters",
            "Messages kept as dead letters, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.receipts = Counter(
            "campus_ingest_receipts",
            "Receipts published to devices (one per device each time the worker sends them).",
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "campus_ingest_batch_size",
            "Messages per database commit.",
            buckets=BATCH_SIZES,
            registry=self.registry,
        )
        self.commit_seconds = Histogram(
            "campus_ingest_commit_seconds",
            "Time to store and commit one batch.",
            buckets=COMMIT_SECONDS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "campus_ingest_queue_depth",
            "Deliveries received from the broker and waiting for the worker.",
            registry=self.registry,
        )
        self.devices_online = Gauge(
            "campus_devices_online", "Devices whose presence is online.", registry=self.registry
        )
        self.open_gaps = Gauge(
            "campus_sequence_gaps_open",
            "Open sequence gaps (messages a device sent that have not arrived).",
            registry=self.registry,
        )

    def observe(self, report: IngestReport, *, batch_size: int, seconds: float) -> None:
        for kind, count in report.stored_by_kind.items():
            self.events_stored.labels(kind=kind).inc(count)
        for reason, count in report.dead_by_reason.items():
            self.dead_letters.labels(reason=reason).inc(count)
        self.duplicates.inc(report.duplicates)
        self.batch_size.observe(batch_size)
        self.commit_seconds.observe(seconds)
