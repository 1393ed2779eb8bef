"""The mini-program client and the callback simulator, for tests that follow one person through both."""

from tests.mp.conftest import mp  # noqa: F401 - fixture
from tests.wechat_bot.conftest import make_sim  # noqa: F401 - fixture
