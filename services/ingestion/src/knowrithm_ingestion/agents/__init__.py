"""Ingestion's projection of agents and companies (`projection.py`), kept from their events
(`subscribers.py`)."""
