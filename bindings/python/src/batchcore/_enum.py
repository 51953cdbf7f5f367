"""A string enum that prints as its value (enum.StrEnum arrived only in Python 3.11)."""
from enum import Enum


class StrEnum(str, Enum):
    def __str__(self) -> str:
        return str(self.value)
