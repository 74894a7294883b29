"""The chat widget: its script, its public agent settings, and test pages that embed it."""
