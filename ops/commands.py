"""Registers every CLI command module on :data:`ops.cli.app`."""
