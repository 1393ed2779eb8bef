"""Index plumbing shared by every capability's store: `ensure_index` and the setup type.

The list of every collection's indexes is `services.indexes.ensure_indexes`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

IndexSetup = Callable[[AsyncDatabase[dict[str, Any]]], Awaitable[None]]


async def ensure_index(
    collection: AsyncCollection[dict[str, Any]], keys: list[tuple[str, Any]], **options: Any
) -> None:
    """create_index, but a no-op when an index on the same keys exists.

    Some servers (SecantusDB for 2dsphere) report an existing index as conflicting with an
    identical request, which would stop every restart; comparing keys ourselves avoids that.
    """
    wanted = [(k, v) for k, v in keys]
    for info in (await collection.index_information()).values():
        if [(k, v) for k, v in info["key"]] == wanted:
            return
    await collection.create_index(keys, **options)
