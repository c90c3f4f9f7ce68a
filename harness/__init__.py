"""Feature-support matrix harness: declare OpenStack combinations, prove features, rate them."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("harness")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
