"""HTTP entry point: ``create_app(settings)`` builds the FastAPI application."""

from smeflow.api._app import app_from_environment, create_app

__all__ = ["app_from_environment", "create_app"]
