"""Companies' own databases: connections, the SQL/pipeline guard and the engines that reach them."""
