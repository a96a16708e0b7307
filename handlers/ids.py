"""Action and callback ids: the names Slack sends back when someone clicks or submits."""

from enum import StrEnum


class Action(StrEnum):
    APPROVE_REQUEST = "access_approve"
    DENY_REQUEST = "access_deny"
    ACKNOWLEDGE_AGREEMENT = "agreement_acknowledge"
    EXTEND_GRANT = "grant_extend"
    KEEP_GRANT = "review_keep"
    REVOKE_GRANT = "review_revoke"


class View(StrEnum):
    ACCESS_REQUEST = "access_request_modal"
    DENY_REASON = "access_deny_modal"
    NOTICE = "notice_modal"
    EXTEND_GRANT = "grant_extend_modal"


class Block(StrEnum):
    SECRET = "secret"
    DURATION = "duration"
    JUSTIFICATION = "justification"
    REASON = "reason"
