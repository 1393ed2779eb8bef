"""职工书屋 workers' library: reading rooms (书屋) holding copies, one catalogue across all of them.

`rooms` (editors: rooms, spreadsheet import of copies, idle titles, waiting holds, suggested transfers),
`borrowing` (workers: search the city or province, place holds that queue across every room, renew),
`counter` (a 书屋 keeper scans the worker's signed code to lend and takes returns — at another room a
return is a transfer), `reading` (e-book positions that only move forward, minutes per day capped,
rankings by org), `checkins` (阅读打卡 once a day with a streak; reading campaigns such as 世界读书日
ranked per org), `jobs` (expired holds back to the shelf or the queue, overdue reminders).
`store` (MongoDB) and `live` (Redis) stay inside the package.
"""

from __future__ import annotations

from services.library import borrowing, counter, jobs, reading, rooms

__all__ = ["borrowing", "counter", "jobs", "reading", "rooms"]
