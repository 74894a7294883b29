"""`python -m knowrithm_analytics.migrate`: upgrade the analytics schema to head."""

from knowrithm_common.db.migrations import main

if __name__ == "__main__":
    main(package="knowrithm_analytics", schema="analytics")
