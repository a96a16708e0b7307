"""Action and callback ids: the names Slack sends back when someone clicks or submits."""

from enum import StrEnum


class Action(StrEnum):
    APPROVE_REQUEST = "access_approve"
    DENY_REQUEST = "access_deny"
    ACKNOWLEDGE_AGREEMENT = "agreement_acknowledge"
    EXTEND_GRANT = "grant_extend"
    NDA_STATUS_PREVIOUS = "nda_status_previous"
    NDA_STATUS_NEXT = "nda_status_next"


class View(StrEnum):
    ACCESS_REQUEST = "access_request_modal"
    DENY_REASON = "access_deny_modal"
    NOTICE = "notice_modal"


class Block(StrEnum):
    SECRET = "secret"
    DURATION = "duration"
    JUSTIFICATION = "justification"
    REASON = "reason"
