"""Shared pytest setup: the cluster plugin (tests/cluster/plugin.py) provides `cluster`."""

pytest_plugins = ["tests.cluster.plugin"]
