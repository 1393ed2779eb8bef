"""Console clients and the mini-program client, for following one member through both."""

from tests.console.conftest import client, make_editor  # noqa: F401 - fixtures
from tests.mp.conftest import mp  # noqa: F401 - fixture
