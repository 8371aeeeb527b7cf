"""Every ``pattern`` of the three Personalize models behaves as java.util.regex (the service's engine) would.

Java differs from Python's ``re`` where it matters here: ``\\p{Z}`` is the Unicode separators (Zs, Zl, Zp),
not whitespace such as tab/CR/LF; ``\\d``, ``\\w`` and ``\\s`` are ASCII-only; ``.`` stops at line terminators
(\\n, \\r, U+0085, U+2028, U+2029).
"""

from __future__ import annotations

import botocore.session
import pytest
from picks.errors import InvalidInputException
from picks.wire.service_model import SERVICES
from picks.wire.validation import compiled_pattern, validate_input

ARN = "arn:([a-z\\d-]+):personalize:.*:.*:.+"
TAG = "^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$"

# pattern -> (values Java accepts, values Java rejects)
EXAMPLES: dict[str, tuple[list[str], list[str]]] = {
    ARN: (
        ["arn:aws:personalize:us-east-1:000000000000:campaign/c", "arn:aws-cn:personalize:::recipe/x"],
        [
            "arn:AWS:personalize:r:a:x",
            "arn:aws\u0663:personalize:r:a:x",
            "arn:aws:personalize:r:a:x\ny",
            "arn:aws:personalize:r:a:x\u2028",
            "xarn:aws:personalize:r:a:x",
            "arn:aws:personalize:r:a:",
        ],
    ),
    "[A-Za-z_][A-Za-z\\d_]*": (["PRICE_2", "_x"], ["2PRICE", "PRICE\u0663", "PR ICE", ""]),
    "^[A-Za-z_]+$": (["Interactions", "ACTION_INTERACTIONS"], ["Interactions\n", "Items2", ""]),
    "arn:aws.*:kms:.*:[0-9]{12}:key/.*": (
        ["arn:aws:kms:us-east-1:123456789012:key/abc", "arn:aws-cn:kms:cn-north-1:123456789012:key/"],
        ["arn:aws:kms:us-east-1:123456789012:key/a\nb", "arn:aws:kms:us-east-1:12345678901\u0663:key/a"],
    ),
    "^[a-zA-Z0-9][a-zA-Z0-9\\-_]*": (["my-name_1", "A"], ["-x", "ab c", "na\u00efve", "\u0663x", ""]),
    "\\p{ASCII}{0,1500}": (["", "abc\n\t~\x00\x7f", "a" * 1500], ["na\u00efve", "a" * 1501, "\u2028"]),
    "arn:([a-z\\d-]+):iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+": (
        ["arn:aws:iam::123456789012:role/PersonalizeRole", "arn:aws-cn:iam::123456789012:role/a/b+c=d,e.f@g"],
        [
            "arn:aws:iam::12345678901\u0663:role/x",
            "arn:aws:iam::123456789012:role/\u00e9",
            "arn:aws:iam::1:role/x",
        ],
    ),
    "(s3|http|https)://.+": (
        ["s3://bucket/key.csv", "https://x"],
        ["ftp://x", "s3://a\nb", "s3://a\rb", "s3://"],
    ),
    "rate\\(\\d+ days?\\)": (
        ["rate(1 day)", "rate(7 days)"],
        ["rate(\u0667 days)", "rate(7 weeks)", "rate(7 days) "],
    ),
    TAG: (
        ["\u00c9quipe name", "a\u00a0b", "a\u2028b", "a\u2029b", "\u6570\u5b57\u0663\u216b", "k_.:/=+-@", ""],
        ["a\tb", "a\rb", "a\nb", "a\x0bb", "a\x0cb", "a\u200bb", "a!b", "a\u0085b"],
    ),
    "[A-Za-z\\d_]+": (["CATEGORY_1"], ["CAT\u0663", "CAT-1", ""]),
    "[A-Za-z0-9_]+": (["PRICE"], ["PRICE\u00b2", "a b"]),
    "^[\\x20-\\x7E]*[\\x21-\\x7E]+[\\x20-\\x7E]*$": ([" source ", "x"], ["   ", "src\n", "src\u00e9", ""]),
}


def _model_patterns() -> dict[str, list[str]]:
    session = botocore.session.get_session()
    found: dict[str, list[str]] = {}
    for service in SERVICES:
        model = session.get_service_model(service)
        for name in model.shape_names:
            pattern = model.shape_for(name).metadata.get("pattern")
            if pattern is not None:
                found.setdefault(pattern, []).append(f"{service}:{name}")
    return found


MODEL_PATTERNS = _model_patterns()


def test_every_model_pattern_has_examples():
    # A botocore upgrade that brings a new pattern must bring examples of what Java makes of it.
    assert set(MODEL_PATTERNS) <= set(EXAMPLES), sorted(set(MODEL_PATTERNS) - set(EXAMPLES))


@pytest.mark.parametrize("pattern", sorted(MODEL_PATTERNS))
def test_model_pattern_matches_as_java_does(pattern):
    accepted, rejected = EXAMPLES[pattern]
    compiled = compiled_pattern(pattern)
    assert [v for v in accepted if not compiled.fullmatch(v)] == []
    assert [v for v in rejected if compiled.fullmatch(v)] == []


@pytest.mark.parametrize("pattern", sorted(MODEL_PATTERNS))
def test_java_character_classes_in_every_pattern(pattern):
    # Whatever the pattern, Java's meaning of each class it uses holds inside it.
    compiled = compiled_pattern(pattern)
    if "\\p{Z}" in pattern:
        for separator in (" ", "\u00a0", "\u3000", "\u2028", "\u2029"):
            assert compiled.fullmatch(f"a{separator}b"), repr(separator)
        for not_separator in ("\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\u0085"):
            assert not compiled.fullmatch(f"a{not_separator}b"), repr(not_separator)
    if "\\p{L}" in pattern:
        assert compiled.fullmatch("\u00e9\u0436\u4e2d\u01c5")  # Ll, Ll, Lo, Lt
    if "\\p{N}" in pattern:
        assert compiled.fullmatch("7\u0663\u216b\u00bd")  # Nd, Nd, Nl, No


def test_tag_keys_with_tab_cr_lf_are_refused():
    for control in ("\t", "\r", "\n"):
        with pytest.raises(InvalidInputException, match="tags.1.member.tagKey"):
            validate_input(
                "personalize",
                "TagResource",
                {
                    "resourceArn": "arn:aws:personalize:us-east-1:000000000000:dataset-group/g",
                    "tags": [{"tagKey": f"team{control}name", "tagValue": "v"}],
                },
            )


def test_dot_stops_at_java_line_terminators():
    with pytest.raises(InvalidInputException, match="dataSource.dataLocation"):
        validate_input(
            "personalize",
            "CreateDatasetImportJob",
            {
                "jobName": "j",
                "datasetArn": "arn:aws:personalize:us-east-1:000000000000:dataset/g/INTERACTIONS",
                "dataSource": {"dataLocation": "s3://bucket/a\u2028b.csv"},
            },
        )
