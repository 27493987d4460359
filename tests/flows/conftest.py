"""Flow tests share the Prefect fixtures in tests/conftest.py."""
