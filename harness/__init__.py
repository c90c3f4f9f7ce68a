"""Feature-support matrix harness: declare OpenStack combinations, prove features, rate them."""

from __future__ import annotations

from functools import cache


@cache
def version() -> str:
    """The installed harness's version, looked up when first asked for: importlib.metadata
    and the lookup cost every harness process (the CLI, each scenario process and worker)
    about 35 ms on its way to the first scenario, and few of them ever ask."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("harness")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def __getattr__(name: str) -> str:
    """`harness.__version__`, as packages spell it, from `version()`."""
    if name == "__version__":
        return version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
