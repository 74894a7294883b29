"""Is a search query SQL, a MongoDB pipeline, or a question in words?

The answer decides the path (the guard and `run_query`, the pipeline guard and `run_pipeline`, or
text-to-SQL); it never decides what may run, since every path ends in a guard.

A pipeline is MongoDB's own aggregate command as JSON: `{"aggregate": "<collection>", "pipeline":
[<stages>]}` (text opening with `{` that is not that is a 422 `invalid_pipeline`).

What counts as SQL, so that an attack is refused as SQL rather than read as a question:

- text that opens with a comment (`--`, `/*`, `#`) or a parenthesis;
- text whose first word is a statement keyword that English does not open a question with:
  `INSERT`, `ALTER`, `PRAGMA`, `ATTACH`, `TRUNCATE`, `MERGE`, `GRANT`, `EXEC`, …;
- text whose first word is a statement keyword that English does use (`SELECT`, `WITH`, `SHOW`,
  `SET`, `DO`, `LOCK`, `UPDATE`, `DELETE`, `DROP`, `EXPLAIN`, …) unless it reads as prose: no SQL
  punctuation (`;`, `(`, `=`, `*`, `@`, quotes, `$`, `<`, `>`, `::`, `||`, comments, `a.b`) and
  either a question mark at the end or a word that is English but not SQL ("me", "the", "which",
  "how", "show", …).

So `SELECT name FROM artist`, `LOCK TABLES artist WRITE` and `DO SLEEP(5)` are SQL, while "Show
me the top customers" and "Which artist has the most albums?" are questions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from knowrithm_common.errors import ValidationFailed

# Statement keywords nobody opens a question with.
_ONLY_SQL = frozenset(
    """
    INSERT UPSERT MERGE TRUNCATE ALTER RENAME REVOKE GRANT PRAGMA ATTACH DETACH VACUUM REINDEX
    PREPARE DEALLOCATE EXEC EXECUTE HANDLER COMMIT ROLLBACK SAVEPOINT LISTEN NOTIFY UNLISTEN
    CHECKPOINT DISCARD UNLOCK SHUTDOWN WAITFOR DBCC RECONFIGURE CLUSTER DESC
    """.split()
)
# Statement keywords that also open English sentences ("Show me…", "Select the…", "Do we…").
_ALSO_PROSE = frozenset(
    """
    SELECT WITH VALUES TABLE SHOW SET RESET USE CALL DO LOAD LOCK BEGIN START END UPDATE DELETE
    REPLACE CREATE DROP COPY EXPLAIN DESCRIBE ANALYZE ANALYSE KILL COMMENT DECLARE FETCH CLOSE
    MOVE RELEASE CHECK FLUSH OPTIMIZE REPAIR BACKUP RESTORE IMPORT INSTALL PURGE REFRESH SECURITY
    ABORT BULK
    """.split()
)
_PROSE_WORDS = frozenset(
    """
    me my mine our ours we us you your they their them he she his her its the every each which
    what who whom whose how many much why please there those these this that most least best
    worst show list give tell find does did are was were have has had can could would should
    """.split()
)
_SQL_PUNCTUATION = re.compile(r"[;()=*@'\"`$<>]|--|/\*|::|\|\||[A-Za-z_]\.[A-Za-z_]")
_LEADING_NOISE = re.compile(r"^\s*")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def looks_like_sql(text: str) -> bool:
    """True when `text` is to be run as SQL (through the guard), False for a question in words."""
    stripped = _LEADING_NOISE.sub("", text)
    if stripped.startswith(("--", "/*", "#", "(")):
        return True
    first = _WORD.match(stripped)
    if first is None:
        return False
    keyword = first.group(0).upper()
    if keyword in _ONLY_SQL:
        return True
    if keyword not in _ALSO_PROSE:
        return False
    if _SQL_PUNCTUATION.search(stripped):
        return True
    if stripped.rstrip().endswith("?"):
        return False
    words = [w.lower() for w in _WORD.findall(stripped)[1:]]
    return not any(w in _PROSE_WORDS for w in words)


class InvalidPipeline(ValidationFailed):
    code = "invalid_pipeline"
    message = (
        'A MongoDB query is the aggregate command as JSON: {"aggregate": "<collection>", "pipeline": '
        "[<stages>]}"
    )


@dataclass(frozen=True)
class Pipeline:
    collection: str
    stages: list[dict[str, Any]]


def kind_of(text: str) -> Literal["sql", "pipeline", "question"]:
    """Which path a search query takes (see the module's docs)."""
    if text.lstrip().startswith("{"):
        return "pipeline"
    return "sql" if looks_like_sql(text) else "question"


def parse_pipeline(text: str) -> Pipeline:
    """The collection and stages of `{"aggregate": …, "pipeline": […]}`, or InvalidPipeline."""
    try:
        command = json.loads(text)
    except ValueError:
        raise InvalidPipeline() from None
    if not isinstance(command, dict) or set(command) != {"aggregate", "pipeline"}:
        raise InvalidPipeline()
    collection, stages = command["aggregate"], command["pipeline"]
    if not isinstance(collection, str) or not collection or not isinstance(stages, list):
        raise InvalidPipeline()
    if not all(isinstance(stage, dict) for stage in stages):
        raise InvalidPipeline()
    return Pipeline(collection, stages)
