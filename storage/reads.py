"""Where report reads go: a secondary when one is fresh enough, so statistics and exports stay off the primary.

On a replica set every read goes to the primary by default, which is right for nearly everything we do:
a limit, a guard, a "have I already..." check and any read that must see a write just made (a flush
followed by its export, a survey's results cached once it closes) need the newest data. Reports are
different: a year's learning ledger, a vendor's month, a reading ranking or a counselling report
scan many documents, and the answer is just as useful a few seconds old. `for_reports(collection)`
reads those from a secondary (`secondaryPreferred`), never from one more than `REPORT_MAX_STALENESS`
seconds behind the primary; with no such secondary (a single node, the embedded server) the primary
serves them. During an election a report still answers from a secondary while writes wait for the new
primary (tests/durability/test_mongo_election.py).

Use it only for reads whose result no decision depends on: never for a limit, a status check, or
anything that reads its own write. Writes through a `for_reports` collection are not allowed by code
review (they would still go to the primary, but the name would lie).
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.read_preferences import SecondaryPreferred

# pymongo's floor for maxStalenessSeconds is 90 s (heartbeat plus the server's 10 s idle write period):
# a secondary further behind than that is not used; replication lag is normally well under a second.
REPORT_MAX_STALENESS = 90
_REPORTS = SecondaryPreferred(max_staleness=REPORT_MAX_STALENESS)


def for_reports(collection: AsyncCollection[dict[str, Any]]) -> AsyncCollection[dict[str, Any]]:
    """The same collection, reading from a secondary at most REPORT_MAX_STALENESS seconds behind (or the primary)."""
    return collection.with_options(read_preference=_REPORTS)
