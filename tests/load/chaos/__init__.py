"""Chaos run: faults injected under load, then an audit against the database (`python -m
tests.load.chaos --help`; docs/operations.md, "Faults and recovery")."""
