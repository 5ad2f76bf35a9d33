"""The paper desk of the operator command tests, reused: paper venues and a config file written for them."""

from tests.cli.conftest import desk  # noqa: F401  (a fixture)
