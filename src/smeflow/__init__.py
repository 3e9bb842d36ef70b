"""SMEFlow: multi-tenant agentic process automation for African SMEs."""

__version__ = "0.1.0"
__all__ = ["__version__"]
