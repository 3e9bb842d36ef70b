"""i18n"""

__all__: list[str] = []
