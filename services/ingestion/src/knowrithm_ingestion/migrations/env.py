from knowrithm_ingestion.models import Base
from knowrithm_common.db.migrations import run_env

run_env(Base.metadata)
