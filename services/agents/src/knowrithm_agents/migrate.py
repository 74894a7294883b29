"""`python -m knowrithm_agents.migrate`: upgrade the agents schema to head."""

from knowrithm_common.db.migrations import main

if __name__ == "__main__":
    main(package="knowrithm_agents", schema="agents")
