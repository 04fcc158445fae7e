"""The device runtime of a door or gate station; depends only on `protocols`."""

__version__ = "0.1.0"
