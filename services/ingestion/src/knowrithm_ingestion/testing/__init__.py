"""Test helpers of the ingestion service, for its own tests, the end-to-end tests and the benches
(`samples`: documents of every accepted format, and malicious ones, built in memory).

Not product code: no module of the service imports this package, and the service's wheel (the
image) leaves it out (`[tool.hatch.build.targets.wheel] exclude`).
"""
