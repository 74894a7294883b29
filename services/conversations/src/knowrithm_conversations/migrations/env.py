from knowrithm_common.db.migrations import run_env
from knowrithm_conversations.models import Base

run_env(Base.metadata)
