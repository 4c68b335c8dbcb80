"""Reading and saving single rows of the tenant database the way every domain does."""

from __future__ import annotations

import uuid
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.errors import Conflict, NotFound

Row = TypeVar("Row")


async def get_or_404(session: AsyncSession, model: type[Row], row_id: uuid.UUID, missing: str) -> Row:
    """The row of ``model`` with this id; NotFound(``missing``, e.g. "no such label") when there is none."""
    row = await session.get(model, row_id)
    if row is None:
        raise NotFound(missing)
    return row


async def add_unique(session: AsyncSession, row: object, taken: Conflict) -> None:
    """Add ``row`` (or flush its changes); ``taken`` is raised when its unique name is already used.

    The savepoint rolls back this row only, so the caller's transaction stays usable. Build ``taken``
    before calling: a failed savepoint expires the row, and reading it then would hit the database.
    """
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as exc:
        raise taken from exc
