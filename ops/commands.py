"""Registers every CLI command module on :data:`ops.cli.app`."""

from ops import kafka_cli

__all__ = ["kafka_cli"]
