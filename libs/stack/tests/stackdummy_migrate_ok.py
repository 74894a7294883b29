"""Stand-in migration: creates a table in DATABASE_URL so tests can see it ran there."""

import os

import psycopg

with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
    conn.execute("create table if not exists stackdummy_migrated (id int)")
print("migrated ok")
