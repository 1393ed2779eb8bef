"""Guessable passwords are refused everywhere a password is set: account creation, one's own change, an
admin's reset (and the command line, tests/console/test_editors.py), saying why in Chinese."""

from __future__ import annotations

import pytest

from core.deps import Deps
from core.errors import BadInput
from services.editors import accounts as editors
from tests.console.conftest import CITY_B, PASSWORD, Client, MakeEditor

WEAK = ["Shandong2024", "password12", "qwerty1234", "Qingdao2025", "Gonghui2025", "Qilu123456"]


@pytest.mark.parametrize("password", WEAK)
async def test_guessable_passwords_are_refused_saying_why(deps: Deps, password: str) -> None:
    data = {"username": "weakling", "role": "editor", "org": CITY_B, "password": password}
    with pytest.raises(BadInput) as err:
        await editors.create(deps.db, None, data)
    assert err.value.code == "password" and "太容易被猜到" in err.value.message
    assert await deps.db.editors.count_documents({"_id": "weakling"}) == 0


async def test_the_account_s_own_words_count(deps: Deps) -> None:
    """Scores 4 on its own; with 山东/gonghui as first guesses, it is refused."""
    with pytest.raises(BadInput, match="用户名、单位名称"):
        await editors.create(
            deps.db, None, {"username": "zhangwei", "role": "editor", "org": CITY_B, "password": "Gonghui2025"}
        )
    for good in (PASSWORD, "Blue-kettle-ride-47"):
        await editors.create(
            deps.db, None, {"username": f"u{len(good)}", "role": "editor", "org": CITY_B, "password": good}
        )


async def test_console_refuses_weak_passwords_on_every_form(client: Client, make_editor: MakeEditor) -> None:
    admin = await client("pw_admin", org=CITY_B)
    await make_editor("pw_target", org=CITY_B, role="editor")
    body = {"username": "pw_new", "name": "新", "role": "editor", "org": CITY_B, "password": "Shandong2024"}
    resp = await admin.api("POST", "/api/admin/editors", body)
    assert resp.status == 400 and "太容易被猜到" in resp.json["message"]
    resp = await admin.api("POST", "/api/admin/editors/pw_target/password", {"password": "qwerty1234"})
    assert resp.status == 400 and "太容易被猜到" in resp.json["message"]
    form = {"old_password": PASSWORD, "password": "password12", "password2": "password12"}
    page = await admin.post("/admin/password", form)
    assert page.status == 400 and "太容易被猜到" in page.text and 'data-error-for="password"' in page.text
    good = {"old_password": PASSWORD, "password": "Quiet-harbour-lamp-31", "password2": "Quiet-harbour-lamp-31"}
    assert (await admin.post("/admin/password", good)).status == 303
