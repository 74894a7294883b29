"""Outgoing event subscriptions: webhooks signed with HMAC, retried with backoff, with a delivery log."""
