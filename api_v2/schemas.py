"""Pydantic models of the ``/api/v2`` contract; the ticket shape is the legacy API's."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Me", "TicketOut", "TicketCreate", "TicketPatch", "Status", "Priority"]

Status = Literal["open", "pending", "closed"]
Priority = Literal["low", "normal", "high", "urgent"]


class Me(BaseModel):
    username: str
    is_staff: bool


class TicketOut(BaseModel):
    id: int
    title: str
    body: str
    status: Status
    priority: Priority
    owner: str
    created_at: datetime
    updated_at: datetime
    attachment_url: str | None


class TicketCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    body: str = ""
    priority: Priority = "normal"
    status: Status = "open"


class TicketPatch(BaseModel):
    """Only the fields sent are changed; owner and dates are not editable."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=200)
    body: str | None = None
    priority: Priority | None = None
    status: Status | None = None
