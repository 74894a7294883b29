"""Companies' own databases: connections (`connections/`), the engines that reach them safely
(`engines/`) and the guard every query passes (`guard.py`, `pipeline_guard.py`)."""
