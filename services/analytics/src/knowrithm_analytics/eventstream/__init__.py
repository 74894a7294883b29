"""The live event stream: a company's domain events over SSE as they happen (admins)."""
