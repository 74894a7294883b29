"""Stand-in migration that fails the way a broken alembic revision would."""

import sys

print("running revision 0002")
print('sqlalchemy.exc.ProgrammingError: relation "nope" does not exist', file=sys.stderr)
sys.exit(3)
