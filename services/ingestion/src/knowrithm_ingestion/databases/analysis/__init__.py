"""Analysis of a company's database (a job with a task) and the tables' metadata it stores, with
the tables API (list, get, soft delete one or all, restore, deleted list)."""
