"""Native local stack (no container engine): `python -m devstack up|down|status|logs`."""
