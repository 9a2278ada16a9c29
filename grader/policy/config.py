"""The ``[policy]`` table: how one grade per student is made from the attempts.

Read from the rubric and from the submissions folder's ``grade.toml`` (the
folder's keys win, key by key). Every key is optional; without a ``due`` no
late penalty applies.

    [policy]
    attempts = "latest"                 # latest (as LMS gradebooks do) | best | first
    due = 2026-10-06T23:59:00-05:00     # an ISO date-time with its time zone
    timezone = "America/Chicago"        # for LMS times written without a zone (Blackboard
                                        # attempt names) and naive dates in the extensions file;
                                        # unset: the due date's UTC offset (else UTC)
    grace_minutes = 15                  # this late still counts as on time
    late_penalty = "per_day"            # none | per_day | per_hour | reject
    penalty_percent = 10                # of the total points, per day (or hour) late;
                                        # a partial day (hour) counts as a whole one
    penalty_cap_percent = 50            # never more than this
    late_unknown_time = "minimum"       # an LMS says "late" but not when (Canvas's _late):
                                        # minimum (one day/hour) | cap | none
    submission_times = "times.csv"      # optional: archive or username, submitted
    extensions = "extensions.csv"       # optional: what --policy-file gives
    aliases = { "doe jane" = "jdoe" }   # student key -> the key to group under
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone as dt_timezone, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

PENALTY_UNITS = {"per_day": timedelta(days=1), "per_hour": timedelta(hours=1)}


class PolicyError(ValueError):
    """A ``[policy]`` table or policy file that cannot be used; the message says why."""


class GradingPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    attempts: Literal["latest", "best", "first"] = "latest"
    due: datetime | None = None
    timezone: str | None = None
    grace_minutes: float = Field(default=0.0, ge=0)
    late_penalty: Literal["none", "per_day", "per_hour", "reject"] = "none"
    penalty_percent: float = Field(default=10.0, ge=0, le=100)
    penalty_cap_percent: float = Field(default=100.0, ge=0, le=100)
    late_unknown_time: Literal["minimum", "cap", "none"] = "minimum"
    submission_times: str | None = None
    extensions: str | None = None
    aliases: dict[str, str] = Field(default_factory=dict)

    @field_validator("due")
    @classmethod
    def _zoned(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError(f"due = {value.isoformat()} has no time zone; write it with one, "
                             "e.g. 2026-10-06T23:59:00-05:00")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            zone_of(value)
        return value

    @field_validator("aliases")
    @classmethod
    def _folded(cls, value: dict[str, str]) -> dict[str, str]:
        return {fold(alias): fold(target) for alias, target in value.items()}

    @property
    def zone(self) -> tzinfo:
        """The zone of LMS times written without one. Unset, it is the due date's
        offset: Blackboard names carry a local time with no zone, and the LMS and
        an instructor who writes the due date with an offset share that zone far
        more often than either is in UTC (reading them as UTC would move every
        attempt by hours). A fixed offset does not follow daylight saving; ``timezone`` does."""
        if self.timezone:
            return zone_of(self.timezone)
        if self.due is not None:
            return dt_timezone(self.due.utcoffset())
        return dt_timezone.utc

    @property
    def zone_name(self) -> str:
        """The zone of ``zone`` in words, for the reports."""
        if self.timezone:
            return self.timezone
        if self.due is not None:
            return f"UTC{offset_text(self.due.utcoffset())} (the due date's offset)"
        return "UTC"

    @property
    def grace(self) -> timedelta:
        return timedelta(minutes=self.grace_minutes)

    def zone_disagreement(self) -> str:
        """A warning when the due date's written offset is not the ``timezone``'s at
        that moment ("" else): 23:59-05:00 in November is 22:59 in Chicago, so every
        Blackboard attempt of the last hour, read in Chicago's time, would be late."""
        if self.due is None or not self.timezone:
            return ""
        local = self.due.astimezone(zone_of(self.timezone))
        if local.utcoffset() == self.due.utcoffset():
            return ""
        return (f"[policy] due = {self.due.isoformat()} is written with offset {offset_text(self.due.utcoffset())}, "
                f"but {self.timezone} is at {offset_text(local.utcoffset())} then (due {local.isoformat()} there), "
                f"and Blackboard attempt times are read in {self.timezone}: write the due date with "
                f"{offset_text(local.utcoffset())} if {self.due.strftime('%H:%M')} local time is meant")

    def describe(self) -> list[str]:
        """The policy in words, for the class summary and the reports."""
        rule = {"latest": "the latest attempt counts (as LMS gradebooks do)",
                "best": "the best attempt counts (after any late penalty)",
                "first": "the first attempt counts"}[self.attempts]
        lines = [f"Attempts: {rule}."]
        if self.due is None:
            lines.append("Due date: none set, so no late penalty applies.")
            return lines
        lines.append(f"Due: {self.due.isoformat()}"
                     + (f", with a grace period of {self.grace_minutes:g} minute(s)" if self.grace_minutes else "")
                     + ".")
        lines.append(f"LMS times written without a time zone (Blackboard attempt names) are read as {self.zone_name}"
                     + ("." if self.timezone else "; set timezone (e.g. America/Chicago) to follow daylight saving."))
        lines.append(self.describe_penalty())
        return lines

    def describe_penalty(self) -> str:
        if self.late_penalty == "none":
            return "Late penalty: none (late work is flagged but not penalised)."
        if self.late_penalty == "reject":
            return "Late penalty: late work is not accepted (it scores 0 unless the student has an on-time attempt)."
        unit = "day" if self.late_penalty == "per_day" else "hour"
        cap = f", at most {self.penalty_cap_percent:g}%" if self.penalty_cap_percent < 100 else ""
        return (f"Late penalty: {self.penalty_percent:g}% of the total points per {unit} late{cap}; "
                f"a partial {unit} counts as a whole one, measured from the due date.")

    def units_late(self, late_by: timedelta) -> int:
        """Whole days (hours) late, partial ones rounded up."""
        unit = PENALTY_UNITS.get(self.late_penalty, timedelta(days=1))
        return max(1, math.ceil(late_by / unit))


def fold(text: str) -> str:
    """A student key as compared: case-folded, runs of spaces made one."""
    return " ".join(str(text).split()).casefold()


def offset_text(offset: timedelta) -> str:
    """+hh:mm or -hh:mm."""
    minutes = round(offset.total_seconds() / 60)
    return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def zone_of(name: str) -> tzinfo:
    if name.upper() in ("UTC", "Z"):
        return dt_timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone {name!r} is not a known time zone; use an IANA name such as "
                         "'America/Chicago' or 'UTC'") from None


def merge_policy(base: GradingPolicy, overrides: dict[str, Any], where: str) -> GradingPolicy:
    """``base`` with the keys of another ``[policy]`` table (grade.toml's) on top."""
    from pydantic import ValidationError

    data = base.model_dump(exclude_unset=True)
    data.update(overrides)
    try:
        return GradingPolicy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(describe_errors(exc, where)) from None


def describe_errors(exc, where: str) -> str:
    lines = [f"{where}: the [policy] table does not fit:"]
    for error in exc.errors():
        key = ".".join(str(p) for p in error["loc"]) or "(top level)"
        lines.append(f"  - key policy.{key}: {error['msg']}")
    return "\n".join(lines)
