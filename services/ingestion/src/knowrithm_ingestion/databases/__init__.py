"""Companies' own databases (issue 15): connections, analysis, text-to-SQL, and the guard in front."""
