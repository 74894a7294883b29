"""`python -m knowrithm_auth.migrate`: upgrade the auth schema to head."""

from knowrithm_common.db.migrations import main

if __name__ == "__main__":
    main(package="knowrithm_auth", schema="auth")
