"""What the reference app's endpoints take and return, as pydantic models.

Every endpoint that takes input declares it here and is wrapped in ``@validate``, so a request
is checked (and a bad one answered 422/400/413/415 as problem+json) before it touches the
database, the cache or the queue. The same models describe the app in ``/openapi.json``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field, field_validator

__all__ = [
    "ChatIn",
    "ChatOut",
    "Popular",
    "PopularQuery",
    "PopularSymptom",
    "PushKeys",
    "PushSubscription",
    "RecentQuery",
    "RecentReport",
    "RecentReports",
    "ReminderCreated",
    "ReportFilters",
    "ReportList",
    "ReportRow",
    "ReminderIn",
    "ReportCreated",
    "ReportIn",
    "Subscribed",
    "SymptomPath",
]

# Postgres text cannot hold NUL; anything else a person types is fine.
_TEXT = r"^[^\x00]*$"
UserId = Annotated[int, Field(ge=1, le=2**62, description="a user's id")]


class ChatIn(BaseModel):
    """``POST /api/chat``: one message to the assistant."""

    message: Annotated[str, Field(min_length=1, max_length=2000)]


class ChatOut(BaseModel):
    reply: str


class PushKeys(BaseModel):
    """The browser's push subscription keys (base64url)."""

    p256dh: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_=-]+$")]
    auth: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_=-]+$")]


class PushSubscription(BaseModel):
    """``POST /api/push/subscribe``: a push endpoint (https only) and, optionally, its keys."""

    endpoint: Annotated[str, Field(max_length=2048, pattern=r"^https://[^\s\x00]+$")]
    keys: PushKeys | None = None


class Subscribed(BaseModel):
    subscribed: str


class PopularQuery(BaseModel):
    """``GET /api/symptoms/popular``: how many symptoms, over how many days."""

    limit: Annotated[int, Field(ge=1, le=100)] = 10
    days: Annotated[int, Field(ge=1, le=365)] = 30


class PopularSymptom(BaseModel):
    id: int
    name: str
    reports: int
    avg_intensity: float


class Popular(BaseModel):
    days: int
    symptoms: list[PopularSymptom]


class ReportIn(BaseModel):
    """``POST /api/symptoms/report``: a user reports a symptom at an intensity from 1 to 10."""

    user_id: UserId
    symptom_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    intensity: Annotated[int, Field(ge=1, le=10)]


class ReportCreated(BaseModel):
    id: int
    invalidated: bool


class ReminderIn(BaseModel):
    """``POST /api/reminders``: remind a user of something, at most a year ahead."""

    user_id: UserId
    message: Annotated[str, Field(min_length=1, max_length=500, pattern=_TEXT)]
    due_at: AwareDatetime

    @field_validator("due_at")
    @classmethod
    def _within_a_year(cls, value: datetime) -> datetime:
        now = datetime.now(UTC)
        if not now - timedelta(days=1) <= value <= now + timedelta(days=366):
            raise ValueError("due_at must be within the next year")
        return value


class ReminderCreated(BaseModel):
    id: int
    due_at: datetime


class ReportFilters(BaseModel):
    """``GET /api/admin/reports``: the admin's filters over recent symptom reports."""

    symptom_id: Annotated[int | None, Field(ge=1, le=2**31 - 1)] = None
    user_id: Annotated[int | None, Field(ge=1, le=2**62)] = None
    days: Annotated[int, Field(ge=1, le=365)] = 7
    limit: Annotated[int, Field(ge=1, le=500)] = 50


class ReportRow(BaseModel):
    id: int
    user_id: int
    symptom_id: int
    intensity: int
    reported_at: datetime


class ReportList(BaseModel):
    reports: list[ReportRow]


class RecentQuery(BaseModel):
    """``GET /api/symptoms/{id}/reports``: how many of the latest reports."""

    limit: Annotated[int, Field(ge=1, le=100)] = 20


class RecentReport(BaseModel):
    intensity: int
    reported_at: datetime


class RecentReports(BaseModel):
    symptom_id: int
    reports: list[RecentReport]


class SymptomPath(BaseModel):
    """``/api/symptoms/{id}/...``: a symptom's id (a Postgres ``integer``)."""

    id: Annotated[int, Field(ge=1, le=2**31 - 1)]
