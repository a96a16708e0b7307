"""Runtime settings, read from the environment or a `.env` file."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything Confide reads from its environment.

    Secrets are `SecretStr` so that neither `repr()` nor a validation error can print them.
    """

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    slack_bot_token: SecretStr = Field(description="Bot token (xoxb-...).")
    slack_signing_secret: SecretStr | None = Field(
        default=None, description="Verifies every HTTP request from Slack; required for HTTP mode."
    )
    slack_app_token: SecretStr | None = Field(default=None, description="xapp-... token for Socket Mode.")
    slack_api_url: str = Field(
        default="https://slack.com/api/", description="Web API base URL (GovSlack, proxies, tests)."
    )
    database_url: str = Field(default="sqlite:///confide.db", description="SQLite file or postgresql://...")
    confide_catalog: str = Field(default="config/catalog.toml", description="Path of the catalog file.")
    host: str = "0.0.0.0"
    port: int = Field(default=3000, ge=0, le=65535)
    confide_sweep_seconds: int = Field(default=300, ge=1, description="Seconds between scheduler sweeps.")
    confide_outbox_lease_seconds: int = Field(
        default=30,
        ge=1,
        description="How long a replica may hold a message it is sending before another retries it; "
        "keep it well above twice the 10 s Slack call timeout.",
    )
    confide_slack_rate_limit: float | None = Field(
        default=None,
        gt=0,
        description="Slack calls a second Slack allows the deliverer; it paces itself just under it, so "
        "429s stay rare. Unset: the pace is learned from Slack's 429s.",
    )
    confide_database_pool_size: int = Field(
        default=20,
        ge=1,
        le=500,
        description="PostgreSQL connections each process keeps open; requests beyond it wait for one. "
        "Replicas x this must stay under the server's max_connections.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["console", "json"] = "console"
    confide_audit_webhook_url: str | None = None
    confide_audit_webhook_format: Literal["json", "splunk-hec"] = "json"
    confide_audit_webhook_token: SecretStr | None = None

    def require_http(self) -> None:
        """HTTP mode cannot verify requests without the signing secret."""
        if self.slack_signing_secret is None or not self.slack_signing_secret.get_secret_value():
            raise SettingsError(["SLACK_SIGNING_SECRET: required to serve over HTTP"])

    def require_socket(self) -> None:
        if self.slack_app_token is None or not self.slack_app_token.get_secret_value():
            raise SettingsError(["SLACK_APP_TOKEN: required for --socket"])


class SettingsError(Exception):
    """Settings are missing or invalid; each problem names its variable and never its value."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning pydantic's errors into one line per variable without values."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            name = str(error["loc"][0]).upper() if error["loc"] else "settings"
            reason = "is required" if error["type"] == "missing" else error["msg"]
            problems.append(f"{name}: {reason}")
        raise SettingsError(problems) from None
