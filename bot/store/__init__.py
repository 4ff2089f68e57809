"""The database: engine and transactions, schema, one module per repository, migrations."""
