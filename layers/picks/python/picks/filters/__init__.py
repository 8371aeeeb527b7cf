"""Amazon Personalize filter expressions: parse (``parser``), hold metadata (``catalog``), evaluate
(``engine``).  ``picks.controlplane.filters`` serves CreateFilter and friends on top of them."""

from picks.filters.catalog import ItemCatalog, UserProfile
from picks.filters.engine import evaluate, parse_filter_values
from picks.filters.parser import FilterExpression, parse, parse_cached

__all__ = [
    "FilterExpression",
    "ItemCatalog",
    "UserProfile",
    "evaluate",
    "parse",
    "parse_cached",
    "parse_filter_values",
]
