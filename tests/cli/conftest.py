"""The data fixtures, shared with the CLI tests."""
from tests.data.conftest import mmrec_folder, tiny_rows  # noqa: F401
