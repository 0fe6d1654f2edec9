"""The only layer that talks to a database engine. Everything else speaks SQL through it."""

from onefold.engine.base import Engine, EngineError
from onefold.engine.duckdb_engine import DuckDBEngine

__all__ = ["DuckDBEngine", "Engine", "EngineError"]
