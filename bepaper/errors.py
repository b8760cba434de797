"""Errors a user can cause. The CLI prints them on one line and exits with code 2."""


class BepaperError(Exception):
    """Base class: a problem with the user's input, reported without a traceback."""


class ConfigError(BepaperError):
    """A config file or override is invalid (unknown key, wrong type, bad value)."""


class DataError(BepaperError):
    """A dataset folder, split file or video list is missing or unusable."""


class VideoError(BepaperError):
    """One video cannot be read. Carries the path and the reason."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class CheckpointError(BepaperError):
    """A checkpoint is missing, unreadable, untrusted or does not match the run."""
