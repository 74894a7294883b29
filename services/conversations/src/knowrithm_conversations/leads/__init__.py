"""Leads: widget visitors who register (and get a lead token), prospects admins record, their
statuses, and GDPR export and erasure. Email and phone are encrypted at rest."""
