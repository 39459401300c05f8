# Real infrastructure and service processes for every test: see tools/devstack/devstack/testing.py.
pytest_plugins = ["devstack.testing"]
