"""When an attempt was submitted, and what being late costs.

The time comes from the LMS, never from the archive: the zip's own entry
timestamps are whatever the student's computer said. In order of trust:

1. the instructor's submission-times file (an LMS export), by archive or username;
2. Blackboard's attempt time in the file name (``..._attempt_2026-10-06-21-14-05_...``),
   which has no zone: it is read in the policy's ``timezone`` (unset: the due
   date's offset, assuming the LMS and the instructor share a zone);
3. Canvas's ``_late`` flag: late (or not) by Canvas's own due date, time unknown.

With none of these, no late penalty applies and the report says so.

Lateness is measured from the due date; a submission within the grace period
is on time, one after it is late by the whole time since the due date, and a
partial day (or hour) counts as a whole one. The penalty is a percentage of
the total points per day (hour), capped, and never takes a score below 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from grader.policy.config import GradingPolicy
from grader.records import Student

BLACKBOARD_TIME = "%Y-%m-%d-%H-%M-%S"


@dataclass(frozen=True)
class SubmissionTime:
    when: datetime | None          # time-zone aware, when known
    source: str                    # submission-times | blackboard | canvas-flag | none
    note: str                      # how it was known, for the report
    marked_late: bool | None = None  # the LMS's own verdict when it gives no time

    @property
    def trusted(self) -> bool:
        return self.when is not None


@dataclass(frozen=True)
class Lateness:
    state: str                     # no-due | unknown | on-time | grace | late | late-unknown-time
    explanation: str
    late_by: timedelta | None = None
    units: int = 0                 # days or hours counted
    percent: float = 0.0           # of the total points
    penalty: float = 0.0           # points taken off
    rejected: bool = False

    @property
    def late(self) -> bool:
        return self.state in ("late", "late-unknown-time")


def submission_time(student: Student, archive: str, policy: GradingPolicy,
                    recorded: dict[str, datetime] | None = None) -> SubmissionTime:
    """The most trustworthy submission time of one archive."""
    if recorded and archive in recorded:
        when = recorded[archive]
        return SubmissionTime(when, "submission-times",
                              f"submitted {_shown(when, policy)}, from the submission-times file")
    if student.attempt:
        try:
            naive = datetime.strptime(student.attempt, BLACKBOARD_TIME)
        except ValueError:
            pass
        else:
            when = naive.replace(tzinfo=policy.zone)
            return SubmissionTime(when, "blackboard", f"submitted {_shown(when, policy)}, Blackboard's attempt time in "
                                                      f"the file name, read in the {policy.zone_name} time zone")
    if student.lms == "canvas":
        if student.late:
            return SubmissionTime(None, "canvas-flag", "Canvas marked this submission late, without saying when",
                                  marked_late=True)
        return SubmissionTime(None, "canvas-flag", "Canvas did not mark this submission late", marked_late=False)
    return SubmissionTime(None, "none", "no submission time is known: the archive name carries none, and the "
                                        "zip's own timestamps come from the student's computer, so they are not used")


def assess(time: SubmissionTime, due: datetime | None, raw: float, total: float, policy: GradingPolicy,
           extended: bool = False) -> Lateness:
    """Whether ``time`` is late for ``due`` and what the policy takes off ``raw``."""
    if due is None:
        return Lateness("no-due", "No due date is set, so no late penalty applies.")
    if time.when is None:
        return _without_time(time, raw, total, policy, extended)
    late_by = time.when - due
    if late_by <= timedelta(0):
        return Lateness("on-time", f"On time (due {_shown(due, policy)}).", late_by)
    if late_by <= policy.grace:
        return Lateness("grace", f"Submitted {_duration(late_by)} after the due date, within the "
                                 f"{policy.grace_minutes:g}-minute grace period: no penalty.", late_by)
    units = policy.units_late(late_by)
    return _penalised(late_by, units, f"Submitted {_duration(late_by)} after the due date ({_shown(due, policy)})",
                      raw, total, policy)


def _without_time(time: SubmissionTime, raw: float, total: float, policy: GradingPolicy, extended: bool) -> Lateness:
    if not time.marked_late:
        if time.marked_late is False:
            return Lateness("on-time", "On time: Canvas did not mark it late.")
        return Lateness("unknown", "No trustworthy submission time, so no late penalty applies.")
    if extended:
        return Lateness("unknown", "Canvas marked it late by its own due date, but this student has an extension "
                                   "and the time is unknown, so no late penalty applies.")
    said = "Canvas marked it late but gives no time"
    if policy.late_unknown_time == "none" or policy.late_penalty == "none":
        return Lateness("late-unknown-time", f"{said}; the policy (late_unknown_time = \"none\" or no late penalty) "
                                             "takes nothing off.")
    if policy.late_penalty == "reject":
        return _penalised(None, 1, said, raw, total, policy)
    if policy.late_unknown_time == "cap":
        units = max(1, int(-(-policy.penalty_cap_percent // policy.penalty_percent))) if policy.penalty_percent else 1
        rule = "the full (capped) penalty"
    else:
        units, rule = 1, f"one {_unit(policy)}'s penalty"
    return _penalised(None, units, f"{said}; the policy (late_unknown_time = \"{policy.late_unknown_time}\") "
                                   f"applies {rule}", raw, total, policy)


def _penalised(late_by: timedelta | None, units: int, said: str, raw: float, total: float,
               policy: GradingPolicy) -> Lateness:
    state = "late" if late_by is not None else "late-unknown-time"
    if policy.late_penalty == "none":
        return Lateness(state, f"{said}; the policy has no late penalty.", late_by)
    if policy.late_penalty == "reject":
        return Lateness(state, f"{said}; the policy does not accept late work, so it scores 0.", late_by,
                        percent=100.0, penalty=max(raw, 0.0), rejected=True)
    percent = min(units * policy.penalty_percent, policy.penalty_cap_percent)
    penalty = min(max(raw, 0.0), total * percent / 100.0)
    counted = f"{units} {_unit(policy)}{'s' if units != 1 else ''}"
    rounding = f", counted as {counted} (a partial {_unit(policy)} counts as a whole one)" if late_by is not None else ""
    capped = " (the cap)" if units * policy.penalty_percent > policy.penalty_cap_percent else ""
    return Lateness(state, f"{said}{rounding}: {percent:g}%{capped} of {total:g} points = {penalty:g} points off.",
                    late_by, units, percent, round(penalty, 2))


def _unit(policy: GradingPolicy) -> str:
    return "hour" if policy.late_penalty == "per_hour" else "day"


def _shown(when: datetime, policy: GradingPolicy) -> str:
    local = when.astimezone(policy.zone)
    return local.strftime("%Y-%m-%d %H:%M:%S ") + (local.tzname() or policy.zone_name)


def _duration(delta: timedelta) -> str:
    """Days, hours, minutes, and seconds when there are any: "3 h 0 min" for 3 h 0 min 1 s
    would not explain why that counts as 4 hours."""
    minutes, seconds = divmod(int(delta.total_seconds()), 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    words = [f"{days} d"] if days else []
    words += [f"{hours} h"] if hours or days else []
    words.append(f"{minutes} min")
    words += [f"{seconds} s"] if seconds else []
    return " ".join(words)
