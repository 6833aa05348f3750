"""WeChat's domain verification: admins upload `MP_verify_<code>.txt`, the site serves it at its root."""

from __future__ import annotations

import re

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import InvalidInput, NotFound
from engage.models import VerifyFile

FILENAME = re.compile(r"^MP_verify_[A-Za-z0-9]{1,64}\.txt$")
MAX_CONTENT = 256
_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")


async def verify_file_content(session: AsyncSession, filename: str) -> str:
    if not FILENAME.match(filename or ""):
        raise NotFound("not found")
    content = await session.scalar(select(VerifyFile.content).where(VerifyFile.filename == filename))
    if content is None:
        raise NotFound("not found")
    return content


async def upload_verify_file(session: AsyncSession, filename: str, raw: bytes, user_id: int | None) -> VerifyFile:
    """Store (or replace) a verification file; WeChat's are a short ASCII code."""
    if not FILENAME.match(filename or ""):
        raise InvalidInput("the file must be named MP_verify_<letters and digits>.txt, as WeChat names it")
    try:
        content = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise InvalidInput("the file must hold the ASCII code WeChat gave") from None
    if not content or len(content) > MAX_CONTENT or not _PRINTABLE.match(content):
        raise InvalidInput(f"the file must hold 1 to {MAX_CONTENT} printable ASCII characters")
    now = clock.now()
    stmt = (
        pg_insert(VerifyFile)
        .values(filename=filename, content=content, uploaded_by=user_id, uploaded_at=now)
        .on_conflict_do_update(
            index_elements=[VerifyFile.filename], set_={"content": content, "uploaded_by": user_id, "uploaded_at": now}
        )
        .returning(VerifyFile)
    )
    return (await session.scalars(stmt, execution_options={"populate_existing": True})).one()


async def list_verify_files(session: AsyncSession) -> list[VerifyFile]:
    return list((await session.scalars(select(VerifyFile).order_by(VerifyFile.filename))).all())


async def delete_verify_file(session: AsyncSession, filename: str) -> None:
    result = await session.execute(delete(VerifyFile).where(VerifyFile.filename == filename))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"no verification file {filename}")
