"""Database: async engine and sessions per service schema, one commit point, migrations."""

from knowrithm_common.db.base import NAMING_CONVENTION, make_base
from knowrithm_common.db.session import Database, RequestSession, after_commit, get_session

__all__ = ["NAMING_CONVENTION", "Database", "RequestSession", "after_commit", "get_session", "make_base"]
