import pytest
from pydantic import SecretStr, ValidationError

from knowrithm_common.settings import BaseServiceSettings, to_psycopg_url


class _Settings(BaseServiceSettings):
    secret_fields = ("api_secret",)
    api_secret: SecretStr = SecretStr("changeme")


def test_default_secret_refused_in_production(monkeypatch):
    monkeypatch.setenv("KNOWRITHM_ENV", "production")
    with pytest.raises(ValidationError, match="API_SECRET is unset"):
        _Settings()


def test_default_secret_allowed_in_development(monkeypatch):
    monkeypatch.setenv("KNOWRITHM_ENV", "development")
    assert _Settings().api_secret.get_secret_value() == "changeme"


def test_real_secret_accepted_in_production(monkeypatch):
    monkeypatch.setenv("KNOWRITHM_ENV", "production")
    assert _Settings(api_secret=SecretStr("s3cr3t-from-vault")).knowrithm_env == "production"


def test_shared_variables_ignore_service_prefix(monkeypatch):
    class Prefixed(BaseServiceSettings):
        model_config = {"env_prefix": "AUTH_"}

    monkeypatch.setenv("DATABASE_URL", "postgres://u@h:1/db")
    assert Prefixed().sqlalchemy_url == "postgresql+psycopg://u@h:1/db"


def test_psycopg_url_rewrites_known_schemes():
    assert to_psycopg_url("postgresql://a/b") == "postgresql+psycopg://a/b"
    assert to_psycopg_url("postgresql+psycopg://a/b") == "postgresql+psycopg://a/b"
