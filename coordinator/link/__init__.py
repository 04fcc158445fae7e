"""The coordinator's publishing side of the broker: bundles and commands to devices."""
