"""`python -m knowrithm_conversations.migrate`: upgrade the conversations schema to head."""

from knowrithm_common.db.migrations import main

if __name__ == "__main__":
    main(package="knowrithm_conversations", schema="conversations")
