"""The cluster fixtures (``control_plane``, ``control_plane_for``, ``namespace`` …) live in fixtures.py, loaded
for the whole suite by tests/conftest.py, so other directories share the session's control plane."""
