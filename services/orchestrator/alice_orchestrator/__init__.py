"""Alice orchestrator service."""
