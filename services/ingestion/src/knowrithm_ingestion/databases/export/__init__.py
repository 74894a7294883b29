"""Exporting a connection's tables into documents (`POST /database-connection/export`).

Each chosen table is read through the SQL guard and the engine (read-only, bounded), its rows
rendered as text with their column names, and kept as ONE document per table, found again by a
stable source key (`database:<connection>:<schema>.<table>` in `source_url`, `source` =
"database"), so a re-export replaces the document instead of adding another. The documents go
through the normal pipeline (ProcessDocument: chunk, embed, index). Deleting a connection
soft-deletes its exported documents; restoring it brings back those deleted with it.
"""
