"""Personalize-format ARNs (``arn:aws:personalize:{region}:{account}:{kind}/{path}``)."""

from __future__ import annotations

from dataclasses import dataclass

from picks.errors import InvalidInputException

RECIPE_PREFIX = "arn:aws:personalize:::recipe/"


@dataclass(frozen=True)
class Arn:
    partition: str
    region: str
    account: str
    kind: str
    path: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:personalize:{self.region}:{self.account}:{self.kind}/{self.path}"


def build(region: str, account: str, kind: str, path: str, partition: str = "aws") -> str:
    return str(Arn(partition, region, account, kind, path))


def parse(value: str, field: str = "arn") -> Arn:
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "personalize" or "/" not in parts[5]:
        raise InvalidInputException(f"{field}: '{value}' is not a valid Personalize ARN.")
    kind, _, path = parts[5].partition("/")
    return Arn(parts[1], parts[3], parts[4], kind, path)


def kind_of(value: str, field: str = "arn") -> str:
    return parse(value, field).kind
