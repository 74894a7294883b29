"""What a connection's tables mean, from their analysed structure: the knowledge graph (`graph.py`:
tables as nodes, declared foreign keys and inferred `<table>_id` joins as edges) and the semantic
snapshot (`snapshot.py`: each table in words, the entities and their relations). Both are pure
functions of `TableShape`s (`shapes.py`); `endpoints.py` serves them per connection."""
