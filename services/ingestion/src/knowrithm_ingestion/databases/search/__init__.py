"""`POST /api/v1/search/database`: the caller's SQL, or a question in words, on its databases."""
