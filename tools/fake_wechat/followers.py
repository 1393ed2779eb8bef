"""Followers of one official account and their tags, cheap enough for a million of them.

Numbered followers (`o_fake_0000042`) are stored as ranges and generated on demand, so adding a
million costs nothing and `user/get` paging is O(page). Followers who unfollow stay *known*
(WeChat then answers 43004 rather than 40003), so unfollowing only marks them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

PAGE_SIZE = 10_000


class _Numbered:
    __slots__ = ("count", "prefix", "start", "subscribe_time", "width")

    def __init__(self, prefix: str, start: int, count: int, width: int, subscribe_time: int) -> None:
        self.prefix, self.start, self.count, self.width = prefix, start, count, width
        self.subscribe_time = subscribe_time

    def __len__(self) -> int:
        return self.count

    def index(self, openid: str) -> int | None:
        if not openid.startswith(self.prefix):
            return None
        digits = openid[len(self.prefix) :]
        if len(digits) != self.width or not digits.isdigit():
            return None
        i = int(digits) - self.start
        return i if 0 <= i < self.count else None

    def at(self, i: int) -> str:
        return f"{self.prefix}{self.start + i:0{self.width}d}"

    def iter_from(self, i: int) -> Iterator[str]:
        prefix, width = self.prefix, self.width
        for n in range(self.start + i, self.start + self.count):
            yield f"{prefix}{n:0{width}d}"


class _Explicit:
    __slots__ = ("ids", "pos")

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.pos: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, openid: str) -> int | None:
        return self.pos.get(openid)

    def at(self, i: int) -> str:
        return self.ids[i]

    def add(self, openid: str) -> None:
        self.pos[openid] = len(self.ids)
        self.ids.append(openid)

    def iter_from(self, i: int) -> Iterator[str]:
        return iter(self.ids[i:]) if i else iter(self.ids)


class OrderedIds:
    """An insertion-ordered set that can resume iteration after any member (tag member lists)."""

    def __init__(self) -> None:
        self._ids: list[str | None] = []
        self._pos: dict[str, int] = {}
        self.size = 0

    def __contains__(self, openid: object) -> bool:
        i = self._pos.get(openid) if isinstance(openid, str) else None
        return i is not None and self._ids[i] is not None

    def add(self, openid: str) -> bool:
        if openid in self:
            return False
        self._pos[openid] = len(self._ids)
        self._ids.append(openid)
        self.size += 1
        return True

    def discard(self, openid: str) -> bool:
        if openid not in self:
            return False
        self._ids[self._pos[openid]] = None  # tombstone keeps later positions stable for paging
        self.size -= 1
        return True

    def after(self, openid: str | None) -> Iterator[str] | None:
        """Members after `openid` (all when None); None when `openid` was never a member."""
        if not openid:
            start = 0
        elif openid in self._pos:
            start = self._pos[openid] + 1
        else:
            return None
        return (o for o in self._ids[start:] if o is not None)


@dataclass
class FollowerInfo:
    unionid: str | None = None
    subscribe_time: int | None = None
    remark: str = ""
    subscribe_scene: str = "ADD_SCENE_SEARCH"
    qr_scene: int = 0
    qr_scene_str: str = ""
    language: str = "zh_CN"


@dataclass
class FollowerStore:
    segments: list[_Numbered | _Explicit] = field(default_factory=list)
    unsubscribed: set[str] = field(default_factory=set)
    info: dict[str, FollowerInfo] = field(default_factory=dict)  # sparse: only followers with details
    user_tags: dict[str, list[int]] = field(default_factory=dict)  # sparse
    tag_members: dict[int, OrderedIds] = field(default_factory=dict)

    # --- membership -----------------------------------------------------------------------------
    def locate(self, openid: str) -> tuple[int, int] | None:
        for si, seg in enumerate(self.segments):
            i = seg.index(openid)
            if i is not None:
                return si, i
        return None

    def is_known(self, openid: str) -> bool:
        return self.locate(openid) is not None

    def is_follower(self, openid: str) -> bool:
        return openid not in self.unsubscribed and self.locate(openid) is not None

    @property
    def total(self) -> int:
        return sum(len(s) for s in self.segments) - len(self.unsubscribed)

    # --- changes --------------------------------------------------------------------------------
    def add(self, openid: str) -> None:
        if self.locate(openid) is not None:
            self.unsubscribed.discard(openid)  # re-follow keeps the original place in the list
            return
        last = self.segments[-1] if self.segments else None
        if not isinstance(last, _Explicit):
            last = _Explicit()
            self.segments.append(last)
        last.add(openid)

    def add_numbered(self, n: int, prefix: str, start: int, subscribe_time: int) -> None:
        width = max(7, len(str(start + n - 1)))
        for seg in self.segments:
            if not isinstance(seg, _Numbered) or seg.prefix != prefix or seg.width != width:
                continue
            if start < seg.start + seg.count and seg.start < start + n:
                raise ValueError(f"numbered followers {prefix}{start}.. overlap existing ones; pass start=")
        self.segments.append(_Numbered(prefix, start, n, width, subscribe_time))

    def unfollow(self, openid: str) -> bool:
        if not self.is_follower(openid):
            return False
        self.unsubscribed.add(openid)
        return True

    def subscribe_time(self, openid: str) -> int:
        info = self.info.get(openid)
        if info is not None and info.subscribe_time is not None:
            return info.subscribe_time
        loc = self.locate(openid)
        seg = self.segments[loc[0]] if loc else None
        return seg.subscribe_time if isinstance(seg, _Numbered) else 0

    # --- iteration ------------------------------------------------------------------------------
    def iter_after(self, openid: str | None) -> Iterator[str] | None:
        """Subscribed followers in stable order after `openid`; None if `openid` is unknown."""
        if openid:
            loc = self.locate(openid)
            if loc is None:
                return None
            si, i = loc[0], loc[1] + 1
        else:
            si, i = 0, 0
        return self._iter(si, i)

    def _iter(self, si: int, i: int) -> Iterator[str]:
        unsub = self.unsubscribed
        for seg in self.segments[si:]:
            for openid in seg.iter_from(i):
                if not unsub or openid not in unsub:
                    yield openid
            i = 0

    def iter_subscribed(self) -> Iterator[str]:
        return self._iter(0, 0)

    # --- tags -----------------------------------------------------------------------------------
    def tag(self, openid: str, tag_id: int) -> None:
        members = self.tag_members.setdefault(tag_id, OrderedIds())
        if members.add(openid):
            self.user_tags.setdefault(openid, []).append(tag_id)

    def untag(self, openid: str, tag_id: int) -> None:
        members = self.tag_members.get(tag_id)
        if members is not None and members.discard(openid):
            tags = self.user_tags.get(openid, [])
            if tag_id in tags:
                tags.remove(tag_id)

    def drop_tag(self, tag_id: int) -> None:
        members = self.tag_members.pop(tag_id, None)
        if members is None:
            return
        for openid in list(members.after(None) or ()):
            tags = self.user_tags.get(openid, [])
            if tag_id in tags:
                tags.remove(tag_id)

    def tags_of(self, openid: str) -> list[int]:
        return list(self.user_tags.get(openid, ()))

    def iter_tag(self, tag_id: int, after: str | None = None) -> Iterator[str] | None:
        members = self.tag_members.get(tag_id)
        if members is None:
            return iter(()) if not after else None
        it = members.after(after)
        if it is None:
            return None
        unsub = self.unsubscribed
        return (o for o in it if o not in unsub)


def page(it: Iterable[str], size: int = PAGE_SIZE) -> list[str]:
    out: list[str] = []
    for openid in it:
        out.append(openid)
        if len(out) >= size:
            break
    return out
