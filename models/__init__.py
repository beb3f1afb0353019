"""The built-in LLM catalog (a ``boute.models`` plugin)."""
