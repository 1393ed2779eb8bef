"""Who is asking: one key per person whether they write from the mini-program or to the official account.

A bound member is `m:<member no>`; otherwise the WeChat unionid (`u:...`) joins the mini-program
user and the follower; without one, the openid of the channel used. The person's two openids
are kept on the case: the mini-program one for the content check and subscribe notices, the
official account's for customer-service messages and template notices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.followers import following
from services.followers import store as followers
from services.members import users_store as mini_users
from services.members.sessions import CurrentUser


@dataclass(frozen=True)
class Requester:
    person: str  # the key limits count by
    mp_openid: str = ""
    oa_openid: str = ""
    member_id: str = ""
    org_path: tuple[str, ...] = ()
    unionid: str = ""

    @property
    def aliases(self) -> list[str]:
        """Every key this person may have opened a case under (binding later changes `person`)."""
        parts = (("m", self.member_id), ("u", self.unionid), ("mp", self.mp_openid), ("oa", self.oa_openid))
        return list(dict.fromkeys([self.person, *(f"{kind}:{value}" for kind, value in parts if value)]))


def _person(member_id: str, unionid: str, fallback: str) -> str:
    if member_id:
        return f"m:{member_id}"
    if unionid:
        return f"u:{unionid}"
    return fallback


async def from_mini_program(db: Any, user: CurrentUser) -> Requester:
    mu = await mini_users.get(db, user.openid)
    oa = mu.follower_openid if mu else ""
    if not oa and user.unionid:
        oa = await following.openid_of_unionid(db, user.unionid)
    person = _person(user.member_id, user.unionid, f"mp:{user.openid}")
    return Requester(person, user.openid, oa, user.member_id, tuple(user.org_path), user.unionid)


async def from_follower(db: Any, oa_openid: str, org_path: tuple[str, ...]) -> Requester:
    doc = await followers.get(db, oa_openid) or {}
    unionid = str(doc.get("unionid") or "")
    mu = await mini_users.by_unionid(db, unionid) if unionid else None
    member = mu.member_id if mu else ""
    path = mu.org_path if mu and mu.org_path else tuple(doc.get("org_path") or org_path)
    person = _person(member, unionid, f"oa:{oa_openid}")
    return Requester(person, mu.openid if mu else "", oa_openid, member, path, unionid)
