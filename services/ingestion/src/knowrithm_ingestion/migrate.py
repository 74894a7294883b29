"""`python -m knowrithm_ingestion.migrate`: upgrade the ingestion schema to head."""

from knowrithm_common.db.migrations import main

if __name__ == "__main__":
    main(package="knowrithm_ingestion", schema="ingestion")
