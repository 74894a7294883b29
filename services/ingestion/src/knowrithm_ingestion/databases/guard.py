"""The SQL guard: every statement that reaches a company's database passes here first.

A statement from a person or a model is parsed with sqlglot in the connection's dialect and
allowed only when it is one read-only query: a SELECT or a set operation (UNION, INTERSECT,
EXCEPT), with CTEs whose bodies are queries too. The whole tree is walked, and anything that
writes, locks, changes the session or reaches outside the data is refused, as is every function
that is not on the allow-list (an unknown function is refused, not trusted). The SQL that runs
is regenerated from the tree without comments: MySQL executes `/*! … */` comments, so input that
holds one is refused outright. The outer LIMIT is clamped (or added; TOP on SQL Server).

Tables: with the connection's active tables (`tables`, `name` and `schema.name`), a name must be
one of them; a qualified one (`schema.table`, on MySQL `database.table`) must be listed as
qualified when the table's schema is known, so `otherdb.artist` does not pass for
`chinook.artist`. When `schemas` is given (MySQL: the connection's database and its `schemas`
parameter), a qualifier outside it is refused, before any analysis (`tables` None) too; system
catalogs are always refused unless listed.

This is the first of two locks: the executors still run read-only and with timeouts, because a
parser can be wrong about what a server does.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from knowrithm_common.errors import ValidationFailed

Dialect = Literal["postgresql", "cockroachdb", "mysql", "sqlite", "mssql"]

SQLGLOT_DIALECTS: dict[str, str] = {
    "postgresql": "postgres",
    "cockroachdb": "postgres",
    "mysql": "mysql",
    "sqlite": "sqlite",
    "mssql": "tsql",
}

MAX_SQL_CHARS = 100_000


class SqlRefused(ValidationFailed):
    """A statement the guard will not let reach a company's database; the message says why."""

    code = "sql_refused"
    message = "This SQL is not allowed"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"This SQL is not allowed: {reason}", detail={"reason": reason})


@dataclass(frozen=True)
class GuardedSql:
    """The statement to execute (regenerated, no comments), the tables it reads, and its LIMIT."""

    sql: str
    tables: list[str] = field(default_factory=list)
    limit: int = 0


# Statements and clauses, by the words a person would recognise.
_REFUSED_NODES: dict[type[exp.Expr], str] = {
    exp.Insert: "INSERT",
    exp.Update: "UPDATE",
    exp.Delete: "DELETE",
    exp.Merge: "MERGE",
    exp.Create: "CREATE",
    exp.Drop: "DROP",
    exp.Alter: "ALTER",
    exp.TruncateTable: "TRUNCATE",
    exp.Copy: "COPY",
    exp.Grant: "GRANT",
    exp.Revoke: "REVOKE",
    exp.Set: "SET",
    exp.Pragma: "PRAGMA",
    exp.Attach: "ATTACH",
    exp.Detach: "DETACH",
    exp.Transaction: "BEGIN (transactions)",
    exp.Commit: "COMMIT",
    exp.Rollback: "ROLLBACK",
    exp.Execute: "EXECUTE",
    exp.Use: "USE",
    exp.Kill: "KILL",
    exp.Show: "SHOW",
    exp.Describe: "EXPLAIN / DESCRIBE",
    exp.LoadData: "LOAD DATA",
    exp.Analyze: "ANALYZE",
    exp.Comment: "COMMENT",
    exp.Declare: "DECLARE",
    exp.Refresh: "REFRESH",
    exp.Cache: "CACHE",
    exp.Uncache: "UNCACHE",
    exp.Into: "INTO (SELECT … INTO writes a table, a file or a variable)",
    exp.Lock: "locking clauses (FOR UPDATE / FOR SHARE)",
    exp.WithTableHint: "table hints (WITH (…))",
    exp.SessionParameter: "server variables (@@…)",
    exp.Parameter: "variables (@…)",
    exp.PropertyEQ: "variable assignment (:=)",
}

# Functions known to be pure (aggregates, windows, string, math, date, conditionals), by
# sqlglot's class for them; the same class may carry a different name per dialect.
_SAFE_FUNCTION_CLASSES: frozenset[str] = frozenset(
    """
    Abs ArrayAgg ArraySize Ascii Avg Case Cast Cbrt Ceil Chr Coalesce Concat ConcatWs Convert
    Corr Count CurrentDate CurrentTime CurrentTimestamp Date DateAdd DateDiff DateSub
    DateTrunc Day DayOfMonth DayOfWeek DayOfYear Dayname Degrees DenseRank Elt Exists Exp
    Explode Extract FirstValue Floor Format Greatest GroupConcat Hex Hour If Initcap
    JSONArrayAgg JSONExtract JSONExtractScalar Lag LastDay LastValue Lead Least Left Length
    Ln Localtimestamp Log LogicalAnd LogicalOr Lower MD5 Max Min Minute Mode Month
    Ntile Nullif NumberToStr Pad PercentRank PercentileCont PercentileDisc Pi Pow Quarter
    Radians Rand Rank RegexpLike RegexpReplace Replace Reverse Right Round RowNumber SHA
    Second Sign SplitPart Sqrt Stddev StddevPop StddevSamp StrPosition StrToDate StrToTime
    Stuff Substring Sum Time TimeStrToTime TimeToStr TimestampDiff TimestampTrunc Translate
    Trim Trunc TryCast TsOrDsToDate TsOrDsToTimestamp Typeof Unicode UnixToTime Unnest Upper
    UtcTimestamp Uuid Variance VariancePop Week Year
    RegexpILike JSONBContains JSONBContainsTopKey JSONBContainsAnyTopKeys JSONBContainsAllTopKeys
    JSONBExtract JSONBExtractScalar ArrayContains ArrayContainsAll ArrayContainedBy ArrayOverlaps Array
    JSONArrayContains JSONBPathExists RegexpFullMatch And Or Xor Collate
    """.split()
)

# Functions sqlglot does not know (they parse as Anonymous), allowed by name per dialect.
_SAFE_ANONYMOUS: dict[str, frozenset[str]] = {
    "postgres": frozenset(
        "age make_date make_timestamp octet_length char_length bit_length to_char to_number "
        "json_build_object jsonb_build_object json_build_array jsonb_array_length "
        "json_array_length jsonb_typeof json_typeof btrim ltrim rtrim strpos lcm gcd "
        "justify_days justify_hours isfinite every percent_rank cume_dist nth_value "
        "regexp_match regexp_matches starts_with date_part to_date to_timestamp "
        "array_length cardinality array_to_string string_to_array".split()
    ),
    "mysql": frozenset(
        "field json_unquote json_length json_keys now unix_timestamp weekday dayofmonth "
        "makedate maketime sec_to_time time_to_sec to_days from_days yearweek ifnull locate "
        "instr mid ucase lcase ceiling truncate std stddev_samp var_samp bit_length "
        "char_length character_length octet_length curtime current_time sysdate "
        "timediff addtime subtime period_diff cume_dist percent_rank nth_value ltrim rtrim".split()
    ),
    "sqlite": frozenset(
        "datetime json_array_length json_type julianday likelihood likely unlikely printf "
        "quote time total unixepoch ltrim rtrim ifnull instr nullif cume_dist percent_rank "
        "nth_value".split()
    ),
    "tsql": frozenset(
        "choose datalength getutcdate sysdatetime sysutcdatetime var varp stdevp count_big "
        "datename eomonth datefromparts charindex patindex isnumeric isdate string_split "
        "cume_dist percent_rank nth_value ltrim rtrim".split()
    ),
}

# Schemas and tables that describe the server rather than the company's data.
_SYSTEM_SCHEMAS: dict[str, frozenset[str]] = {
    "postgres": frozenset({"pg_catalog", "information_schema", "pg_toast", "crdb_internal", "pg_extension"}),
    "mysql": frozenset({"mysql", "information_schema", "performance_schema", "sys"}),
    "sqlite": frozenset(),
    "tsql": frozenset({"sys", "information_schema"}),
}
_SYSTEM_TABLE_PREFIXES: dict[str, tuple[str, ...]] = {
    "postgres": ("pg_",),
    "mysql": (),
    "sqlite": ("sqlite_",),
    "tsql": (),
}
_TSQL_SYSTEM_TABLES = frozenset(
    "sysobjects syscolumns sysusers syslogins sysdatabases sysprocesses sysservers "
    "sysxlogins sysfiles sysindexes syscomments sysmessages sysconfigures".split()
)


# Constructs sqlglot cannot parse, named so the refusal says what was refused.
_NAMED_WHEN_UNPARSABLE: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), words)
    for pattern, words in (
        (r"\bINTO\s+OUTFILE\b", "INTO OUTFILE"),
        (r"\bINTO\s+DUMPFILE\b", "INTO DUMPFILE"),
        (r"\bLOAD\s+DATA\b", "LOAD DATA"),
        (r"\bLOAD\s+XML\b", "LOAD XML"),
        (r"\bBULK\s+INSERT\b", "BULK INSERT"),
        (r"\bWAITFOR\b", "WAITFOR"),
        (r"^\s*HANDLER\b", "HANDLER"),
        (r"^\s*DO\b", "DO"),
        (r"^\s*START\s+TRANSACTION\b", "START TRANSACTION"),
        (r"\bINSERT\b", "INSERT"),
        (r"\bUPDATE\b", "UPDATE"),
        (r"\bDELETE\b", "DELETE"),
    )
)


def check_sql(
    sql: str,
    *,
    dialect: Dialect,
    tables: Collection[str] | None,
    limit: int,
    schemas: Collection[str] | None = None,
) -> GuardedSql:
    """Parse, check and rewrite one statement for a company's database, or raise SqlRefused."""
    if dialect not in SQLGLOT_DIALECTS:
        raise SqlRefused(f"unknown database dialect {dialect!r}")
    if limit < 1:
        raise ValueError("limit must be at least 1")
    read = SQLGLOT_DIALECTS[dialect]
    try:
        return _guard(sql, read, _Scope.of(tables, schemas), limit)
    except RecursionError:
        raise SqlRefused("the SQL is nested too deeply") from None


@dataclass(frozen=True)
class _Scope:
    """What a table reference may name: the listed tables (None: any), and the schemas a
    qualified name may use before any analysis (None: any but the system ones)."""

    tables: frozenset[str] | None
    schemas: frozenset[str] | None

    @classmethod
    def of(cls, tables: Collection[str] | None, schemas: Collection[str] | None) -> _Scope:
        return cls(
            frozenset(t.lower() for t in tables) if tables is not None else None,
            frozenset(s.lower() for s in schemas) if schemas is not None else None,
        )


def _guard(sql: str, read: str, scope: _Scope, limit: int) -> GuardedSql:
    root = _check_root(_parse_one(sql, read), sql, read)
    names = _check_tree(root, read, scope)
    clamped = _clamp_limit(root, limit)
    out = clamped.sql(dialect=read, comments=False)
    bare = _strip_literals(clamped, read)
    if "/*" in bare or "--" in bare:
        raise SqlRefused("the statement could not be regenerated without comments")
    return GuardedSql(sql=out, tables=names, limit=_plain_count(clamped.args.get("limit")) or limit)


def _parse_one(sql: str, read: str) -> exp.Expr:
    if not sql or not sql.strip():
        raise SqlRefused("the SQL is empty")
    if len(sql) > MAX_SQL_CHARS:
        raise SqlRefused(f"the SQL is longer than {MAX_SQL_CHARS} characters")
    if "/*!" in sql or "/*m!" in sql.lower():
        # MySQL and MariaDB execute the text inside /*! … */ (and MariaDB's /*M! … */) as SQL.
        raise SqlRefused("MySQL executable comments (/*! … */) are not allowed")
    try:
        parsed = sqlglot.parse(sql, read=read)
    except SqlglotError as error:
        raise _unparsable(sql, read, error) from None
    statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]
    if not statements:
        raise SqlRefused("the SQL is empty")
    if len(statements) > 1:
        raise SqlRefused(f"only one statement is allowed, found {len(statements)}")
    return statements[0]


def _unparsable(sql: str, read: str, error: SqlglotError) -> SqlRefused:
    """Name what was refused when sqlglot cannot parse it: a known construct, else the first keyword."""
    for pattern, words in _NAMED_WHEN_UNPARSABLE:
        if pattern.search(sql):
            return SqlRefused(f"{words} is not allowed")
    first = _first_keyword(sql, read)
    if first is not None and first not in ("SELECT", "WITH", "("):
        return SqlRefused(f"{first} statements are not allowed: only a SELECT query can run")
    first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
    return SqlRefused(f"the SQL could not be parsed ({first_line})")


def _check_root(root: exp.Expr, sql: str, read: str) -> exp.Query:
    while isinstance(root, exp.Subquery) and _set_args(root) == {"this"} and isinstance(root.this, exp.Query):
        root = root.this  # "(SELECT …)": the parentheses change nothing
    if isinstance(root, (exp.Select, exp.SetOperation)):
        return root
    if _refused_subclass(root) or isinstance(root, (exp.Command, exp.Values)):
        words = _describe(root)
    elif isinstance(root, exp.Subquery):
        words = "a parenthesized query followed by LIMIT or ORDER BY"
    else:
        words = f"{_first_keyword(sql, read) or 'this'} statements"
    raise SqlRefused(f"{words} is not allowed: only a SELECT query can run")


def _set_args(node: exp.Expr) -> set[str]:
    return {key for key, value in node.args.items() if value not in (None, False, [])}


def _first_keyword(sql: str, read: str) -> str | None:
    try:
        tokens = sqlglot.tokenize(sql, read=read)
    except SqlglotError:
        return None
    return tokens[0].text.upper() if tokens else None


def _describe(node: exp.Expr) -> str:
    for cls, words in _REFUSED_NODES.items():
        if isinstance(node, cls):
            return words
    if isinstance(node, exp.Command):
        return f"{str(node.this).upper()} statements"
    if isinstance(node, exp.Values):
        return "VALUES"
    return f"{type(node).__name__.upper()} statements"


def _check_tree(root: exp.Expr, read: str, scope: _Scope) -> list[str]:
    names: list[str] = []
    for node in root.walk():
        if isinstance(node, exp.Command):
            raise SqlRefused(f"{_describe(node)} are not allowed")
        if isinstance(node, exp.CTE) and not isinstance(node.this, (exp.Select, exp.SetOperation)):
            raise SqlRefused(
                f"{_describe(node.this)} inside WITH is not allowed: CTEs must be SELECT queries"
            )
        if isinstance(node, (exp.DDL, exp.DML)) or _refused_subclass(node):
            raise SqlRefused(f"{_describe(node)} is not allowed")
        if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func):
            raise SqlRefused(f"schema-qualified function {node.sql(dialect=read)} is not allowed")
        if isinstance(node, exp.Func):
            _check_function(node, read)
        if isinstance(node, exp.Table) and isinstance(node.this, (exp.Identifier, exp.Dot)):
            name = _check_table(node, read, scope)
            if name is not None and name not in names:
                names.append(name)
    return names


def _refused_subclass(node: exp.Expr) -> bool:
    return any(isinstance(node, cls) for cls in _REFUSED_NODES)


def _check_function(node: exp.Func, read: str) -> None:
    if isinstance(node, exp.Anonymous):
        name = str(node.this).lower()
        if name in _SAFE_ANONYMOUS[read]:
            return
        raise SqlRefused(f"function {name} is not allowed")
    if type(node).__name__ in _SAFE_FUNCTION_CLASSES:
        return
    shown = node.sql(dialect=read, comments=False).split("(")[0].strip().lower()
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", shown):
        shown = node.sql_name().lower()  # an operator (`~*`, `@>`) that sqlglot models as a function
    raise SqlRefused(f"function {shown} is not allowed")


def _check_table(node: exp.Table, read: str, scope: _Scope) -> str | None:
    parts = [p.name for p in node.parts]
    name, qualifiers = parts[-1].lower(), [p.lower() for p in parts[:-1]]
    full = ".".join([*qualifiers, name])
    if read == "sqlite" and qualifiers == ["main"]:
        qualifiers = []  # SQLite's own name for the one database a connection opens
    if not qualifiers and name in _visible_ctes(node):
        return None
    allowed = scope.tables
    listed = allowed is not None and ".".join([*qualifiers, name]) in allowed
    if len(qualifiers) > 1 and not listed:
        raise SqlRefused(f"table {full} is in another database, which is not allowed")
    if _is_system(name, qualifiers, read) and not listed:
        raise SqlRefused(f"system catalog {full} is not allowed")
    if allowed is not None and not listed:
        if name not in allowed or any(a.endswith(f".{name}") for a in allowed):
            # `otherdb.artist` is not `artist` when the connection's artist is `chinook.artist`
            raise SqlRefused(f"table {full} is not one of this connection's tables")
    if qualifiers and not listed and scope.schemas is not None and qualifiers[0] not in scope.schemas:
        raise SqlRefused(f"table {full} is in another schema or database, which is not allowed")
    return ".".join(parts)


def _is_system(name: str, qualifiers: list[str], read: str) -> bool:
    if any(q in _SYSTEM_SCHEMAS[read] for q in qualifiers):
        return True
    if name.startswith(_SYSTEM_TABLE_PREFIXES[read]):
        return True
    return read == "tsql" and name in _TSQL_SYSTEM_TABLES


def _visible_ctes(table: exp.Table) -> set[str]:
    """CTE names a table reference can mean, by SQL's scoping (no self-reference without RECURSIVE)."""
    visible: set[str] = set()
    child: exp.Expr = table
    for node in _ancestors(table):
        if isinstance(node, exp.With):
            ctes = list(node.expressions)
            index = ctes.index(child) if child in ctes else len(ctes)
            reachable = ctes if node.args.get("recursive") else ctes[:index]
            visible.update(cte.alias_or_name.lower() for cte in reachable)
        else:
            with_ = node.args.get("with_")
            if isinstance(with_, exp.With) and with_ is not child:
                visible.update(cte.alias_or_name.lower() for cte in with_.expressions)
        child = node
    return visible


def _ancestors(node: exp.Expr) -> Iterator[exp.Expr]:
    parent = node.parent
    while parent is not None:
        yield parent
        parent = parent.parent


def _clamp_limit(root: exp.Expr, limit: int) -> exp.Expr:
    assert isinstance(root, exp.Query)
    current = root.args.get("limit")
    requested = _plain_count(current)
    effective = limit if requested is None else min(requested, limit)
    if isinstance(current, exp.Limit) and requested is not None and requested <= limit:
        return root
    return root.limit(effective, copy=False)


def _plain_count(node: exp.Expr | None) -> int | None:
    """The row count of a LIMIT/TOP/FETCH that is a plain integer, else None (so it is replaced)."""
    if isinstance(node, exp.Limit) and not node.args.get("limit_options"):
        count = node.expression
    elif isinstance(node, exp.Fetch) and not node.args.get("limit_options"):
        count = node.args.get("count")
    else:
        return None
    if isinstance(count, exp.Literal) and count.is_int:
        return int(count.this)
    return None


_STRING_NODES: tuple[type[exp.Expr], ...] = tuple(
    getattr(exp, name)
    for name in ("Literal", "ByteString", "RawString", "National", "HexString", "BitString", "UnicodeString")
    if hasattr(exp, name)
)


def _strip_literals(tree: exp.Expr, read: str) -> str:
    """The generated SQL with string literals blanked, to look for comment markers outside strings."""
    copy = tree.copy()
    for literal in list(copy.find_all(*_STRING_NODES)):
        if not isinstance(literal, exp.Literal) or literal.is_string:
            literal.replace(exp.Literal.string(""))
    return copy.sql(dialect=read, comments=False)
