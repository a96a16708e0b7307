"""Confidentiality training: what a person owes, taking the quiz, completions as evidence, coverage.

A training is owed when it applies to the person and they have no passing attempt of its current
version, or their last pass is older than `every_days` (a refresher). Every attempt is kept and audited;
the passes are the completions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from config.catalog import Catalog, Secret, Training
from workflows import audit, training_obligations
from workflows.connection import Connection
from workflows.directory import active_members, get_member
from workflows.errors import ConfideError, InvalidInput, NotAllowed, NotFound
from workflows.obligations import applies_to
from workflows.tables import training_attempts


class TrainingOwed(ConfideError):
    """The secret requires training the requester has not completed (or whose refresher is due)."""

    def __init__(self, secret: Secret, owed: list[Training]):
        titles = ", ".join(t.title for t in owed)
        super().__init__(f"*{secret.name}* requires you to complete the training {titles} first.")
        self.secret = secret
        self.owed = owed


@dataclass(frozen=True)
class OwedTraining:
    training: Training
    owed_since: datetime | None
    due_at: datetime | None  # reminders start then
    last_passed_at: datetime | None  # a pass of this version that needs refreshing

    @property
    def is_refresher(self) -> bool:
        return self.last_passed_at is not None


@dataclass(frozen=True)
class PassedTraining:
    training_id: str
    title: str
    version: str
    at: datetime
    current: bool  # the catalog's version, and no refresher due
    refresher_due_at: datetime | None


@dataclass(frozen=True)
class TrainingOverview:
    owed: list[OwedTraining]
    passed: list[PassedTraining]  # the latest pass of each version, newest first


@dataclass(frozen=True)
class QuizResult:
    training: Training
    passed: bool
    correct: int
    total: int
    wrong: list[int]  # indexes of the questions answered wrongly (or not at all)
    refresher_due_at: datetime | None


@dataclass(frozen=True)
class TrainingCoverage:
    training: Training
    in_scope: int
    passed: int
    outstanding: list[tuple[str, datetime | None, bool]]  # (user, owed since, overdue), longest owed first

    @property
    def percent(self) -> int:
        return 100 if self.in_scope == 0 else (100 * self.passed) // self.in_scope


def is_current(training: Training, passed_at: datetime | None, now: datetime) -> bool:
    """A pass of the current version that no refresher has yet replaced."""
    if passed_at is None:
        return False
    refresh = training_obligations.refresher_due(training, passed_at)
    return refresh is None or now < refresh


async def last_passes(conn: Connection, user_id: str) -> dict[tuple[str, str], datetime]:
    """(training, version) → this person's latest pass of it."""
    rows = await conn.execute(
        sa.select(
            training_attempts.c.training_id, training_attempts.c.version, sa.func.max(training_attempts.c.at)
        )
        .where(training_attempts.c.user_id == user_id, training_attempts.c.passed)
        .group_by(training_attempts.c.training_id, training_attempts.c.version)
    )
    return {(training_id, version): at for training_id, version, at in rows}


async def owed_by(conn: Connection, catalog: Catalog, user_id: str, now: datetime) -> list[OwedTraining]:
    """The trainings in scope for this person that they have not passed (or must refresh)."""
    member = await get_member(conn, user_id)
    passes = await last_passes(conn, user_id)
    owed = []
    for training in catalog.trainings:
        passed_at = passes.get((training.id, training.version))
        if not applies_to(training, member) or is_current(training, passed_at, now):
            continue
        owed.append(await _owed(conn, training, user_id, passed_at))
    return owed


async def overview(conn: Connection, catalog: Catalog, user_id: str, now: datetime) -> TrainingOverview:
    """What /training and the App Home show: what the person owes, and what they passed when."""
    passes = await last_passes(conn, user_id)
    passed = []
    for (training_id, version), at in sorted(passes.items(), key=lambda item: item[1], reverse=True):
        training = catalog.training(training_id)
        current = training is not None and training.version == version and is_current(training, at, now)
        refresh = training_obligations.refresher_due(training, at) if current and training else None
        title = training.title if training else training_id
        passed.append(PassedTraining(training_id, title, version, at, current, refresh))
    return TrainingOverview(await owed_by(conn, catalog, user_id, now), passed)


async def missing_for(
    conn: Connection, catalog: Catalog, user_id: str, required_ids: list[str], now: datetime
) -> list[Training]:
    """Those of the named trainings (a secret's `requires`) this person has no current pass of."""
    wanted = [t for t in (catalog.training(i) for i in required_ids) if t is not None]
    if not wanted:  # most secrets require none: no query on the request path
        return []
    passes = await last_passes(conn, user_id)
    return [t for t in wanted if not is_current(t, passes.get((t.id, t.version)), now)]


def training_to_take(catalog: Catalog, training_id: str, version: str) -> Training:
    """The training behind a Start, Next or Retry button, as long as its version is still current."""
    training = catalog.training(training_id)
    if training is None:
        raise NotFound("That training is no longer in the catalog. `/training` shows what you owe.")
    if version != training.version:
        raise InvalidInput(
            f"*{training.title}* has a newer version ({training.version}). "
            "Run `/training` and start it again."
        )
    return training


async def submit_quiz(
    conn: Connection,
    catalog: Catalog,
    now: datetime,
    *,
    user_id: str,
    training_id: str,
    version: str,
    answers: dict[int, str | None],
) -> QuizResult:
    """Grade a quiz (answers: question index → the chosen option's index), keep the attempt, audit it;
    a pass is a completion of this version."""
    training = training_to_take(catalog, training_id, version)
    wrong = [i for i, q in enumerate(training.questions) if _chosen(q.options, answers.get(i)) != q.answer]
    correct = len(training.questions) - len(wrong)
    passed = correct >= training.pass_mark
    await conn.execute(
        training_attempts.insert().values(
            user_id=user_id,
            training_id=training.id,
            version=training.version,
            at=now,
            correct=correct,
            total=len(training.questions),
            passed=passed,
        )
    )
    if passed:
        await training_obligations.mark_passed(conn, training, user_id, now)
    await audit.record(
        conn,
        at=now,
        actor=user_id,
        action="training.passed" if passed else "training.failed",
        subject=training.id,
        details={
            "user": user_id,
            "version": training.version,
            "correct": correct,
            "total": len(training.questions),
            "wrong": [i + 1 for i in wrong],
        },
    )
    refresh = training_obligations.refresher_due(training, now) if passed else None
    return QuizResult(training, passed, correct, len(training.questions), wrong, refresh)


async def coverage(conn: Connection, catalog: Catalog, now: datetime) -> list[TrainingCoverage]:
    """Per training, its current version: passed / in scope, and who is outstanding since when."""
    people = await active_members(conn)
    result = []
    for training in catalog.trainings:
        scope = [m for m in people if applies_to(training, m)]
        passes = await training_obligations.last_passes_of(conn, training)
        owed_from = await training_obligations.owed_from_for(conn, training)
        done = 0
        outstanding: list[tuple[str, datetime | None, bool]] = []
        for member in scope:
            passed_at = passes.get(member.user_id)
            if is_current(training, passed_at, now):
                done += 1
                continue
            since = owed_from.get(member.user_id)
            due = training_obligations.next_reminder(training, since, passed_at)
            outstanding.append((member.user_id, since, due is not None and due <= now))
        outstanding.sort(key=lambda o: (o[1] or now, o[0]))
        result.append(TrainingCoverage(training, len(scope), done, outstanding))
    return result


async def training_status(
    conn: Connection, catalog: Catalog, user_id: str, now: datetime
) -> list[TrainingCoverage]:
    """/training status: admins only."""
    if not catalog.is_admin(user_id):
        raise NotAllowed("Sorry, `/training status` is for Confide's admins. `/training` shows what you owe.")
    return await coverage(conn, catalog, now)


# ---- internals ---------------------------------------------------------------------------------------


def _chosen(options: list[str], value: str | None) -> str | None:
    if value is None or not value.isdigit() or int(value) >= len(options):
        return None
    return options[int(value)]


async def _owed(
    conn: Connection, training: Training, user_id: str, passed_at: datetime | None
) -> OwedTraining:
    owed_from = (await training_obligations.owed_from_for(conn, training, [user_id])).get(user_id) or (
        training_obligations.refresher_due(training, passed_at) if passed_at else None
    )
    due = training_obligations.next_reminder(training, owed_from, passed_at)
    return OwedTraining(training, owed_from, due, passed_at)
