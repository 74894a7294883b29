"""API-key analytics from the gateway's usage events."""
