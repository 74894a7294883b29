"""Auth settings: shared variables plus AUTH_-prefixed and the seed's SUPER_ADMIN_* ones."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from knowrithm_common.settings import INSECURE_DEFAULTS, BaseServiceSettings, InsecureSettingsError


class AuthSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore", populate_by_name=True)
    secret_fields: ClassVar[tuple[str, ...]] = ("jwt_private_key",)

    jwt_private_key: SecretStr = Field(SecretStr(""), validation_alias="KNOWRITHM_JWT_PRIVATE_KEY")
    access_token_ttl_seconds: int = 900

    super_admin_email: str | None = Field(None, validation_alias="SUPER_ADMIN_EMAIL")
    super_admin_username: str = Field("superadmin", validation_alias="SUPER_ADMIN_USERNAME")
    super_admin_first_name: str = Field("Super", validation_alias="SUPER_ADMIN_FIRST_NAME")
    super_admin_last_name: str = Field("Admin", validation_alias="SUPER_ADMIN_LAST_NAME")
    super_admin_password: SecretStr = Field(SecretStr(""), validation_alias="SUPER_ADMIN_PASSWORD")

    @model_validator(mode="after")
    def _super_admin_password_is_real(self) -> AuthSettings:
        if not self.super_admin_email:
            return self
        password = self.super_admin_password.get_secret_value()
        if len(password) < 8 or (not self.is_development and password in INSECURE_DEFAULTS):
            raise InsecureSettingsError(
                "SUPER_ADMIN_PASSWORD must be set (8+ characters) when SUPER_ADMIN_EMAIL is"
            )
        return self
