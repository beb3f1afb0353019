"""The built-in GPU catalog and price tables (a ``boute.gpus`` / ``boute.prices`` plugin)."""
