"""One person across the official account and the mini-program: the follower, the mini-program user
and the roster member joined by WeChat's unionid.

- `linking`: unionids filled for followers (on follow, and a back-fill of older followers) through
  `user/info/batchget` (100 per call); a follower and a mini-program user with one unionid are
  linked, and a bound member's org is copied to their follower record (city menus, city replies,
  pushes by org follow membership).
- login and binding through here keep the link true as it happens.
"""
