"""shipways sample API: the one app that every shipways target deploys and verifies."""

APP_NAME = "shipways-app"
__version__ = "1.0.0"
