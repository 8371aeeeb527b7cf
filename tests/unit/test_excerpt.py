"""One rule for quoting user data in error messages (picks.errors.excerpt), wherever the message is built."""

from __future__ import annotations

from picks.errors import QUOTED_PREFIX, excerpt
from picks.filters.parser import Token
from picks.ingest.csv_reader import ImportValidationError, _show


def test_excerpt_keeps_short_values_and_cuts_long_ones():
    assert excerpt("short") == "short"
    assert excerpt("x" * QUOTED_PREFIX) == "x" * QUOTED_PREFIX
    assert excerpt("x" * 1000) == "x" * QUOTED_PREFIX + "..."
    assert excerpt("abcdef", 3) == "abc..."


def test_import_errors_and_filter_tokens_quote_an_excerpt():
    huge = "secret" + "y" * 5000
    assert len(str(ImportValidationError(1, huge, "not in the schema"))) < 200
    assert _show(huge) == repr(excerpt(huge, 40))
    assert Token("WORD", huge, huge, 1).shown() == f"'{excerpt(huge, 40)}'"
