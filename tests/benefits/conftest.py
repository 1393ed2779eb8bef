"""The console fixtures (a logged-in browser-like client per account) for the vendor and redemption pages."""

from tests.console.conftest import client, make_editor  # noqa: F401 - fixtures used by this package's tests
