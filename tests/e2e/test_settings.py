"""LLM and embedding settings through the gateway: keys stay secret, the test call answers."""

import pytest

from .accounts import offline_settings, sign_up

pytestmark = pytest.mark.e2e

SECRET = "sk-e2e-never-shown-0042"


async def test_provider_keys_never_come_back_in_any_response(gateway):
    account = await sign_up(gateway)
    created = await offline_settings(gateway, account, llm_api_key=SECRET)
    seen = [created]
    seen.append((await gateway.get(f"/api/v1/settings/{created['id']}", headers=account.auth)).json())
    seen.append((await gateway.get(f"/api/v1/settings/company/{account.company['id']}", headers=account.auth)).json())
    seen.append((await gateway.put(f"/api/v1/settings/{created['id']}", json={"llm_temperature": 0.2},
                                   headers=account.auth)).json())
    assert all(SECRET not in str(body) for body in seen)
    assert created["llm_api_key_hint"].endswith("0042")


async def test_offline_settings_pass_the_test_call(gateway):
    account = await sign_up(gateway)
    created = await offline_settings(gateway, account)
    r = await gateway.post(f"/api/v1/settings/test/{created['id']}", headers=account.auth)
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True


async def test_temperature_out_of_range_is_422(gateway):
    account = await sign_up(gateway)
    created = await offline_settings(gateway, account)
    r = await gateway.put(f"/api/v1/settings/{created['id']}", json={"llm_temperature": 3}, headers=account.auth)
    assert r.status_code == 422 and r.json()["success"] is False
