"""The mini-program client for the home tests."""

from tests.mp.conftest import mp  # noqa: F401 - fixture
