"""The migrations build the schema the models describe: the same tables, columns and indexes on each
database. A model's index that no migration creates (or one only for the other dialect) would leave a
migrated database without it, and its queries without the plan the index is there for."""
from __future__ import annotations

import uuid

from sqlalchemy import create_engine, inspect, text

from rtmhub.db import Base


def _shape(engine, schema: str | None = None) -> dict[str, dict]:
    found = inspect(engine)
    shape = {}
    for table in found.get_table_names(schema=schema):
        if table == "alembic_version":
            continue
        indexes = {(ix["name"], tuple(ix["column_names"]), tuple(ix.get("expressions") or ()), bool(ix["unique"]))
                   for ix in found.get_indexes(table, schema=schema)}
        columns = {column["name"] for column in found.get_columns(table, schema=schema)}
        shape[table] = {"columns": columns, "indexes": indexes}
    return shape


def test_migrated_schema_is_the_models_schema(database, tmp_path):
    migrated = _shape(database.engine)
    if database.is_sqlite:
        engine = create_engine(f"sqlite:///{tmp_path / 'models.db'}")
        Base.metadata.create_all(engine)
        modelled = _shape(engine)
        engine.dispose()
    else:
        schema = f"models_{uuid.uuid4().hex[:8]}"
        with database.engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            with database.engine.begin() as conn:
                Base.metadata.create_all(conn.execution_options(schema_translate_map={None: schema}))
            modelled = _shape(database.engine, schema)
        finally:
            with database.engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    assert sorted(migrated) == sorted(modelled)
    for table in modelled:
        assert migrated[table]["columns"] == modelled[table]["columns"], table
        assert migrated[table]["indexes"] == modelled[table]["indexes"], table
