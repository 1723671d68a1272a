"""The version of tipqual, kept apart so that any module can name it without importing the package's
notebook API."""

__version__ = "0.1.0"
