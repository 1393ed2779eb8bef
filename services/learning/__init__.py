"""在线学习 online learning: courses owned by an org, units (video, article, quiz), honest progress, credit.

Surfaces use these modules: `admin` (editors: create, order, publish, funnel, completion, credit export),
`studying` (workers: courses, start a unit, heartbeats, articles read), `quizzes` (seeded draws, at most
three attempts, server-side scoring), `credits` (certificates, the per-year ledger, public verification),
`jobs` (the progress write-behind loop). `live` (Redis) and `store` (MongoDB) stay inside the package.
"""

from __future__ import annotations

from services.learning import admin, credits, jobs, quizzes, studying

__all__ = ["admin", "credits", "jobs", "quizzes", "studying"]
