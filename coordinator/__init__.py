"""The coordinator: system of record for the fleet; depends only on `protocols`."""

__version__ = "0.1.0"
