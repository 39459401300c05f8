"""Alice dataflow service."""
