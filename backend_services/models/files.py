"""Uploaded files kept in PostgreSQL (core/file_store.py, the default store)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from backend_services.models.base import TenantRow, created_at_field


class StoredFile(TenantRow, table=True):
    """One file under its store key ("uploads/<workspace>/<name>"). A workspace's files go
    with it (the foreign key cascades), and a backup of the database holds them."""

    __tablename__ = "stored_files"
    key: str = Field(max_length=300, unique=True)
    size_bytes: int = Field(default=0)
    data: bytes = Field(sa_type=sa.LargeBinary)  # type: ignore[call-overload]
    created_at: datetime = created_at_field()
