"""Action and callback ids: the names Slack sends back when someone clicks or submits."""

from enum import StrEnum


class Action(StrEnum):
    APPROVE_REQUEST = "access_approve"
    DENY_REQUEST = "access_deny"
    ACKNOWLEDGE_AGREEMENT = "agreement_acknowledge"
    EXTEND_GRANT = "grant_extend"
    OPEN_CASE_FROM_ALERT = "signal_open_case"
    KEEP_GRANT = "review_keep"
    REVOKE_GRANT = "review_revoke"
    NDA_STATUS_PREVIOUS = "nda_status_previous"
    NDA_STATUS_NEXT = "nda_status_next"


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


class CaseAction(StrEnum):
    TAKE = "case_take"
    UPDATE_STATUS = "case_update_status"
    MESSAGE_REPORTER = "case_message_reporter"
    ADD_EVIDENCE = "case_add_evidence"
    RECORD_LEGAL = "case_record_legal"


class CaseView(StrEnum):
    REPORT = "report_leak_modal"
    STATUS = "case_status_modal"
    MESSAGE = "case_message_modal"
    EVIDENCE = "case_evidence_modal"
    LEGAL = "case_legal_modal"


class CaseBlock(StrEnum):
    """Modal inputs of leak reports and cases; each value is the `field` workflows name in errors."""

    SECRET = "leak_secret"
    WHAT = "what_happened"
    WHERE = "where_when"
    LINKS = "evidence_links"
    ANONYMOUS = "anonymous"
    STATUS = "case_status"
    NOTE = "case_note"
    MESSAGE = "case_message"
    EVIDENCE_DESCRIPTION = "evidence_description"
    EVIDENCE_LINK = "evidence_link"
    EVIDENCE_SHA256 = "evidence_sha256"
    LEGAL_KIND = "legal_kind"
    LEGAL_DATE = "legal_date"
    LEGAL_COUNTERPARTY = "legal_counterparty"
    LEGAL_STATUS = "legal_status"
    LEGAL_NOTES = "legal_notes"
    LEGAL_SUBJECT = "legal_subject"


class TrainingAction(StrEnum):
    START = "training_start"
    NEXT = "training_next"
    BACK = "training_back"
    QUIZ = "training_quiz"
    RETRY = "training_retry"


class TrainingView(StrEnum):
    LESSON = "training_lesson_modal"  # lessons and the result: nothing to submit
    QUIZ = "training_quiz_modal"


class ClassificationAction(StrEnum):
    STILL_SECRET = "classification_still_secret"
    DECLASSIFY = "classification_declassify"
    CHANGE_OWNERS = "classification_change_owners"


class ClassificationView(StrEnum):
    DECLASSIFY = "classification_declassify_modal"
    CHANGE_OWNERS = "classification_owners_modal"


class ClassificationBlock(StrEnum):
    NOTE = "classification_note"
    OWNERS = "classification_owners"
