"""Running SQL (or a MongoDB pipeline) on a company's own database: `service.run_query` and
`service.run_pipeline` are the one way a statement reaches it: guarded, executed read-only and
bounded by the connection's engine, and audited (`models.DatabaseQuery`), refusals included."""
