from knowrithm_common.db.migrations import run_env
from knowrithm_ingestion.models import Base

run_env(Base.metadata)
