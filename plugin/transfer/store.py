"""Files in GridFS buckets (built exports, uploaded imports) and import reports."""

from __future__ import annotations

import logging
from typing import Any

from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile

from plugin.core import constants as c
from plugin.db.database import Repository, reports_unavailable

__all__ = ['TransferStore']

log = logging.getLogger(__name__)


class TransferStore(Repository):
    def _bucket(self, name: str) -> AsyncGridFSBucket:
        return AsyncGridFSBucket(self.db.mongo, bucket_name=name)

    @reports_unavailable
    async def put_file(self, bucket: str, file_id: str, filename: str, source: Any,
                       metadata: dict[str, Any]) -> None:
        """Store a file in a GridFS bucket under ``file_id``, replacing any earlier
        attempt's (a resumed export builds its file again)."""
        await self.delete_file(bucket, file_id)
        await self._bucket(bucket).upload_from_stream_with_id(file_id, filename, source,
                                                              metadata=metadata)

    async def open_file(self, bucket: str, file_id: str) -> Any | None:
        """A GridFS download stream (``.filename``, ``.length``, ``.readchunk()``,
        ``.read()``), or None."""
        try:
            return await self._bucket(bucket).open_download_stream(file_id)
        except NoFile:
            return None

    @reports_unavailable
    async def delete_file(self, bucket: str, file_id: str) -> None:
        try:
            await self._bucket(bucket).delete(file_id)
        except NoFile:
            pass

    @reports_unavailable
    async def save_import(self, doc: dict[str, Any]) -> None:
        """Store an import's report (again, for a resumed import job)."""
        await self.db[c.IMPORTS].replace_one({"_id": doc["_id"]}, doc, upsert=True)

    @reports_unavailable
    async def get_import(self, import_id: str) -> dict[str, Any] | None:
        return await self.db[c.IMPORTS].find_one({"_id": import_id})
