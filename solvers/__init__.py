"""Inner-solver plugins (``boute.solvers`` entry points)."""
