"""understanding"""

__all__: list[str] = []
