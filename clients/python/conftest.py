# The plugin's own tests load it from this folder; an installed
# pytest-opennimble registers it through its pytest11 entry point instead.
pytest_plugins = ["pytest_opennimble"]
