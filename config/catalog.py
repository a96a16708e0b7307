"""The catalog: policy as code. Loaded from TOML into validated, immutable models."""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from config.lessons import SECTION_LIMIT, lesson_pages

SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
SLACK_PRINCIPAL_ID = re.compile(r"^[UWS][A-Z0-9]{2,}$")  # a user or a user group (S...)
SLACK_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
CATALOG_ID = re.compile(r"^[a-z0-9-]+$")

Audience = Literal["everyone", "members", "guests"]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Agreement(_Entry):
    id: Annotated[str, Field(pattern=CATALOG_ID.pattern)]
    title: Annotated[str, Field(min_length=1)]
    version: Annotated[str, Field(min_length=1)]
    url: str | None = None
    applies_to: Audience = "everyone"
    due_days: Annotated[int, Field(ge=0)] = 14
    renew_every_days: Annotated[int, Field(ge=1)] | None = None
    dtsa_notice: bool = False


OPTION_LIMIT = 75  # characters Slack shows in a radio-button option
LABEL_LIMIT = 2000  # characters in an input block's label (the question)
MAX_OPTIONS = 10  # radio buttons in one group
MAX_QUESTIONS = 90  # one input block each, within a modal's 100 blocks
MAX_LESSON_PAGES = 50


class Question(_Entry):
    text: Annotated[str, Field(min_length=1, max_length=LABEL_LIMIT)]
    options: Annotated[list[str], Field(min_length=2, max_length=MAX_OPTIONS)]
    answer: str  # the text of the right option

    @field_validator("options")
    @classmethod
    def _option_texts(cls, options: list[str]) -> list[str]:
        for option in options:
            if not option.strip():
                raise ValueError("an option is empty")
            if len(option) > OPTION_LIMIT:
                raise ValueError(
                    f"{option[:30]!r}… is longer than the {OPTION_LIMIT} characters Slack shows in an option"
                )
        duplicates = sorted({o for o in options if options.count(o) > 1})
        if duplicates:
            raise ValueError(f"{duplicates[0]!r} is listed twice")
        return options

    @model_validator(mode="after")
    def _answer_is_an_option(self) -> Question:
        if self.answer not in self.options:
            raise ValueError(f"answer: {self.answer[:60]!r} is not one of its options")
        return self


class Training(_Entry):
    id: Annotated[str, Field(pattern=CATALOG_ID.pattern)]
    title: Annotated[str, Field(min_length=1, max_length=150)]
    version: Annotated[str, Field(min_length=1, max_length=64)]
    applies_to: Audience = "everyone"
    due_days: Annotated[int, Field(ge=0)] = 30
    every_days: Annotated[int, Field(ge=1)] | None = None  # a refresher is due this long after a pass
    lessons: Annotated[list[str], Field(min_length=1)]
    questions: Annotated[list[Question], Field(min_length=1, max_length=MAX_QUESTIONS)]
    pass_ratio: Annotated[float, Field(gt=0, le=1)] = 0.8

    @field_validator("lessons")
    @classmethod
    def _lessons_fit_slack(cls, lessons: list[str]) -> list[str]:
        for i, lesson in enumerate(lessons):
            if not lesson.strip():
                raise ValueError(f"lessons[{i}] is empty")
        pages = len(lesson_pages(lessons))
        if pages > MAX_LESSON_PAGES:
            raise ValueError(
                f"the lessons fill {pages} pages of {SECTION_LIMIT}-character sections; at most "
                f"{MAX_LESSON_PAGES} fit in a training, so shorten them or split the training"
            )
        return lessons

    @model_validator(mode="after")
    def _questions_distinct(self) -> Training:
        seen: dict[str, int] = {}
        for i, question in enumerate(self.questions):
            if question.text in seen:
                raise ValueError(
                    f"questions[{i}]: text: the same question as questions[{seen[question.text]}]"
                )
            seen[question.text] = i
        return self

    @property
    def pass_mark(self) -> int:
        """Right answers needed to pass."""
        return max(1, math.ceil(self.pass_ratio * len(self.questions) - 1e-9))


class Secret(_Entry):
    id: Annotated[str, Field(pattern=CATALOG_ID.pattern)]
    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    owners: Annotated[list[str], Field(min_length=1)]
    classification: Literal["internal", "confidential", "restricted"] = "confidential"
    requires: list[str] = []
    approvals: Annotated[int, Field(ge=1)] = 1
    default_days: Annotated[int, Field(ge=1)] = 30
    max_days: Annotated[int, Field(ge=1)] = 180
    review_every_days: Annotated[int, Field(ge=1)] = 90
    classification_review_days: Annotated[int, Field(ge=1)] | None = None

    @field_validator("owners")
    @classmethod
    def _owner_ids(cls, owners: list[str]) -> list[str]:
        for owner in owners:
            if not SLACK_PRINCIPAL_ID.match(owner):
                raise ValueError(f"{owner!r} is not a Slack user id (U...) or user-group id (S...)")
        return owners

    @model_validator(mode="after")
    def _days_in_order(self) -> Secret:
        if self.max_days < self.default_days:
            raise ValueError(f"max_days ({self.max_days}) is less than default_days ({self.default_days})")
        return self


class Schedule(_Entry):
    request_reminder_hours: Annotated[int, Field(ge=1)] = 24
    request_expiry_hours: Annotated[int, Field(ge=1)] = 72
    review_reminder_days: Annotated[int, Field(ge=1)] = 3
    escalate_after_reminders: Annotated[int, Field(ge=1)] = 2
    case_ack_days: Annotated[int, Field(ge=1)] = 7
    case_feedback_days: Annotated[int, Field(ge=1)] = 90
    digest: Annotated[str, Field(pattern=r"^(mon|tue|wed|thu|fri|sat|sun) ([01]\d|2[0-3]):[0-5]\d$")] = (
        "mon 09:00"
    )


class Signals(_Entry):
    """Insider-risk thresholds; each alert is raised once per person per signal per window."""

    burst_secrets: Annotated[int, Field(ge=2)] = 3  # distinct secrets requested by one person...
    burst_hours: Annotated[int, Field(ge=1)] = 24  # ...within this many hours
    departure_window_days: Annotated[int, Field(ge=1)] = 30  # restricted grants this recent at offboarding
    working_hours: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")] = (
        "07:00-20:00"
    )
    denials: Annotated[int, Field(ge=2)] = 3  # denied requests of one person...
    denials_days: Annotated[int, Field(ge=1)] = 7  # ...within this many days
    receipt_key_failures: Annotated[int, Field(ge=1)] = 10  # wrong receipt keys, everyone together, per hour


class Catalog(_Entry):
    admins: list[str] = []
    security_channel: str | None = None
    investigators: list[str] | None = None
    recognition_channel: str | None = None
    classification_review_days: Annotated[int, Field(ge=1)] = 180
    agreements: list[Agreement] = []
    trainings: list[Training] = []
    secrets: list[Secret] = []
    schedule: Schedule = Schedule()
    signals: Signals = Signals()

    @field_validator("admins")
    @classmethod
    def _admin_ids(cls, admins: list[str]) -> list[str]:
        for admin in admins:
            if not SLACK_USER_ID.match(admin):
                raise ValueError(f"{admin!r} is not a Slack user id (U...)")
        return admins

    @field_validator("investigators")
    @classmethod
    def _investigator_ids(cls, investigators: list[str] | None) -> list[str] | None:
        for principal in investigators or []:
            if not SLACK_PRINCIPAL_ID.match(principal):
                raise ValueError(f"{principal!r} is not a Slack user id (U...) or user-group id (S...)")
        return investigators

    @field_validator("security_channel", "recognition_channel")
    @classmethod
    def _channel_id(cls, channel: str | None) -> str | None:
        if channel is not None and not SLACK_CHANNEL_ID.match(channel):
            raise ValueError(f"{channel!r} is not a Slack channel id (C...)")
        return channel

    def secret(self, secret_id: str) -> Secret | None:
        return next((s for s in self.secrets if s.id == secret_id), None)

    def agreement(self, agreement_id: str) -> Agreement | None:
        return next((a for a in self.agreements if a.id == agreement_id), None)

    def training(self, training_id: str) -> Training | None:
        return next((t for t in self.trainings if t.id == training_id), None)

    def classification_review_days_of(self, secret: Secret) -> int:
        return secret.classification_review_days or self.classification_review_days

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.admins


class CatalogError(Exception):
    """The catalog is invalid; `problems` holds one line per problem, naming file, entry and field."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def load_catalog(path: str | Path) -> Catalog:
    """Read and validate a catalog file, reporting every problem at once."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError([f"{path}: file not found"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError([f"{path}: not valid TOML: {exc}"]) from None
    return parse_catalog(raw, source=str(path))


def parse_catalog(raw: dict[str, Any], source: str = "catalog") -> Catalog:
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as exc:
        raise CatalogError([_describe(source, raw, error) for error in exc.errors()]) from None
    problems = [f"{source}: {p}" for p in _cross_reference_problems(catalog)]
    if problems:
        raise CatalogError(problems)
    return catalog


def catalog_warnings(catalog: Catalog, source: str = "catalog") -> list[str]:
    """Things that are allowed but probably a mistake."""
    return [
        f"{source}: agreements[{i}] (id {a.id!r}): dtsa_notice: not declared; without the 18 U.S.C. "
        "1833(b) whistleblower-immunity notice, exemplary damages and attorney fees are lost"
        for i, a in enumerate(catalog.agreements)
        if not a.dtsa_notice
    ]


def _cross_reference_problems(catalog: Catalog) -> list[str]:
    problems: list[str] = []
    seen: dict[str, str] = {}
    sections: list[tuple[str, Sequence[Agreement | Training | Secret]]] = [
        ("agreements", catalog.agreements),
        ("trainings", catalog.trainings),
        ("secrets", catalog.secrets),
    ]
    for section, entries in sections:
        for i, entry in enumerate(entries):
            where = f"{section}[{i}] (id {entry.id!r})"
            if entry.id in seen:
                problems.append(f"{where}: id: duplicate of {seen[entry.id]}")
            else:
                seen[entry.id] = where
    requirable = {a.id for a in catalog.agreements} | {t.id for t in catalog.trainings}
    for i, secret in enumerate(catalog.secrets):
        for required in secret.requires:
            if required not in requirable:
                problems.append(
                    f"secrets[{i}] (id {secret.id!r}): requires: unknown agreement {required!r} "
                    "(no agreement or training has that id)"
                )
    return problems


def _describe(source: str, raw: dict[str, Any], error: Any) -> str:
    """Turn a pydantic error location into 'file: section[i] (id 'x'): field: message'."""
    loc = list(error["loc"])
    parts: list[str] = []
    node: Any = raw
    while loc:
        key = loc.pop(0)
        if isinstance(key, int) and isinstance(node, list):
            entry = node[key] if key < len(node) else None
            label = parts.pop() if parts else "entry"
            if isinstance(entry, dict) and "id" in entry:
                parts.append(f"{label}[{key}] (id {entry['id']!r})")
            else:
                parts.append(f"{label}[{key}]")
            node = entry
        else:
            parts.append(str(key))
            node = node.get(key) if isinstance(node, dict) else None
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    where = ": ".join(parts) if parts else "catalog"
    return f"{source}: {where}: {message}"
