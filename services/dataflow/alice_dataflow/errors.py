"""The dataflow's API errors: the shared `alice_common.errors`."""

from alice_common.errors import ApiError, install_error_handlers

__all__ = ["ApiError", "install_error_handlers"]
