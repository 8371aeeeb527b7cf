"""Entity metadata as a sparse feature matrix (training only: scipy).

``featurize(ids, table)`` turns an ITEMS (or USERS) dataset's staged table into one row per id of
``ids`` (the model's index: row ``i`` is ``ids[i]``), one column per feature, built per metadata
field as the schema declares it:

* **categorical** strings (``categorical: true``, several values ``|``-separated): one column per
  value, weighted by its inverse document frequency (sharing a rare value says more than sharing a
  common one).  Plain (non-categorical, non-textual) strings are taken as one value each.
* **textual** strings (``textual: true``): TF-IDF over words (``tfidf``: sublinear term frequency,
  smoothed idf, terms in at least ``min_df`` rows, the ``max_terms`` most frequent kept).
* **numerical** fields (int, long, float, double): ``"binned"`` (default), one column per quantile
  bin, so items of a similar price share a feature; or ``"standardized"``, one z-scored column
  (clipped to 3 standard deviations and scaled into [-1, 1]; null = the mean).
* **boolean** fields: one column, 1 where true.

Each field's block is L2-normalised per row (a standardized number is left as it is) and
multiplied by its weight (``weights`` by field name, else ``KIND_WEIGHTS`` by kind), then every row
is L2-normalised, so the dot product of two rows is their cosine similarity.  An id without
metadata (absent from the table, or null in every field) is a row of zeros.  Reserved columns
(ITEM_ID, CREATION_TIMESTAMP, ...) are not features.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import scipy.sparse as sp
from picks.dataset_schema import metadata_fields
from picks.filters.catalog import BOOLEAN, CATEGORICAL, NUMERIC, FieldValues, ItemCatalog, split_values

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from picks.ingest.columnar import ColumnTable

TEXTUAL = "textual"
KIND_WEIGHTS: dict[str, float] = {CATEGORICAL: 1.0, TEXTUAL: 1.0, NUMERIC: 0.5, BOOLEAN: 0.5}
NUMERIC_BINS = 10
MIN_DF = 2
MAX_TERMS = 50_000
# Words too common in any language's product or film text to tell items apart (a short English
# list: idf already discounts what is frequent in the data itself).
STOP_WORDS = frozenset(
    "a an and are as at be but by for from has have in is it its of on or that the this to was were "
    "will with".split()
)
_WORD = re.compile(r"[^\W_]{2,}")

NumericMode = Literal["binned", "standardized"]


@dataclass(frozen=True)
class FeatureMatrix:
    """``matrix``: float32 CSR, one row per id, rows of unit length (or zero); ``names``: one per
    column (``FIELD=value``, ``FIELD:word``, ``FIELD#bin``, ``FIELD``); ``groups``: each field's
    columns as ``(start, stop)``."""

    matrix: sp.csr_matrix
    names: list[str] = field(default_factory=list)
    groups: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def has_metadata(self) -> np.ndarray:
        """Per row: whether the id has any feature."""
        return np.diff(self.matrix.indptr) > 0


def featurize(
    ids: np.ndarray | Sequence[str],
    table: ColumnTable | None,
    *,
    weights: Mapping[str, float] | None = None,
    numeric: NumericMode = "binned",
    min_df: int = MIN_DF,
    max_terms: int = MAX_TERMS,
) -> FeatureMatrix:
    """The feature matrix of ``ids`` from ``table`` (see the module docstring); no table, no columns."""
    ids = np.asarray(ids, dtype=object)
    if table is None:
        return FeatureMatrix(sp.csr_matrix((len(ids), 0), dtype=np.float32))
    catalog = ItemCatalog.build(ids, table)
    given = {name.upper(): float(value) for name, value in (weights or {}).items()}
    blocks: list[sp.csr_matrix] = []
    names: list[str] = []
    groups: dict[str, tuple[int, int]] = {}
    for declared in metadata_fields(table.schema, table.dataset_type):
        name = declared.name.upper()
        values = catalog.field(name)
        if values is None:
            continue
        kind = TEXTUAL if declared.textual else values.kind
        block, labels = _field_block(values, kind, numeric, min_df, max_terms)
        weight = given.get(name, KIND_WEIGHTS.get(kind, 1.0))
        if block.shape[1] == 0 or weight <= 0:
            continue
        groups[name] = (len(names), len(names) + block.shape[1])
        # A standardized number is one column: normalising its rows would leave only the sign.
        unit = kind == NUMERIC and numeric == "standardized"
        blocks.append(weight * (block if unit else l2_rows(block)))
        names += [f"{name}{label}" for label in labels]
    if not blocks:
        return FeatureMatrix(sp.csr_matrix((len(ids), 0), dtype=np.float32))
    matrix = l2_rows(sp.hstack(blocks, format="csr"))
    return FeatureMatrix(matrix.astype(np.float32), names, groups)


def l2_rows(matrix: sp.spmatrix) -> sp.csr_matrix:
    """``matrix`` with each non-zero row scaled to unit length (zero rows stay zero)."""
    matrix = sp.csr_matrix(matrix, dtype=np.float64)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(scale) @ matrix)


def _field_block(
    values: FieldValues, kind: str, numeric: NumericMode, min_df: int, max_terms: int
) -> tuple[sp.csr_matrix, list[str]]:
    if kind == TEXTUAL:
        assert values.codes is not None
        return tfidf(values.dictionary, values.codes, min_df=min_df, max_terms=max_terms)
    if kind == NUMERIC:
        assert values.numbers is not None
        if numeric == "standardized":
            return _standardized(values.numbers), [""]
        return _binned(values.numbers)
    if kind == BOOLEAN:
        assert values.flags is not None
        on = np.array([flag is True for flag in values.flags.tolist()], dtype=np.float64)
        return sp.csr_matrix(on[:, None]), [""]
    assert values.codes is not None
    return _one_hot(values.dictionary, values.codes, kind)


def _rows_of_codes(codes: np.ndarray, cardinality: int) -> sp.csr_matrix:
    """rows × distinct raw values: 1 at each row's code (nothing for null, -1)."""
    present = np.flatnonzero(codes >= 0)
    return sp.csr_matrix((np.ones(len(present)), (present, codes[present])), shape=(len(codes), cardinality))


def _one_hot(dictionary: list[str], codes: np.ndarray, kind: str) -> tuple[sp.csr_matrix, list[str]]:
    """One idf-weighted column per distinct value (a categorical raw value's ``|`` parts each)."""
    vocabulary: dict[str, int] = {}
    rows, cols = [], []
    for position, raw in enumerate(dictionary):
        for value in dict.fromkeys(part.strip() for part in split_values(raw, kind)):  # ordered, once
            if not value:
                continue
            rows.append(position)
            cols.append(vocabulary.setdefault(value, len(vocabulary)))
    values = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(dictionary), len(vocabulary)))
    hot = sp.csr_matrix(_rows_of_codes(codes, len(dictionary)) @ values)
    hot.data[:] = 1.0
    used = np.flatnonzero(np.bincount(hot.indices, minlength=len(vocabulary)))  # values of these rows
    names = np.array(list(vocabulary), dtype=object)[used]
    return _times_idf(hot[:, used]), [f"={value}" for value in names.tolist()]


def _times_idf(counts: sp.csr_matrix) -> sp.csr_matrix:
    """``counts`` with each column scaled by its smoothed idf over the rows: ln((1+n)/(1+df)) + 1."""
    counts = sp.csr_matrix(counts)
    document_frequency = np.bincount(counts.indices, minlength=counts.shape[1])
    idf = np.log((1.0 + counts.shape[0]) / (1.0 + document_frequency)) + 1.0
    return sp.csr_matrix(counts @ sp.diags(idf))


def tokens(text: str) -> list[str]:
    """Lower-cased words of two or more letters or digits, without ``STOP_WORDS``."""
    return [word for word in _WORD.findall(text.lower()) if word not in STOP_WORDS]


def tfidf(
    documents: list[str], codes: np.ndarray, *, min_df: int = MIN_DF, max_terms: int = MAX_TERMS
) -> tuple[sp.csr_matrix, list[str]]:
    """(rows × terms TF-IDF, the terms as ``:word``) of the texts ``documents[codes[row]]``
    (-1: no text), by scikit-learn's ``TfidfVectorizer``: ``tokens`` as the tokenizer, sublinear
    term frequency (1 + ln tf), smoothed idf ln((1 + n) / (1 + df)) + 1 over the rows, terms in at
    least ``min_df`` rows, the ``max_terms`` most frequent kept; rows left unnormalised (``featurize``
    normalises each field group)."""
    # Imported here: scikit-learn takes ~0.7 s to import, which every job process (imports, batch
    # jobs, training without text fields) would otherwise pay for nothing.
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [documents[code] if code >= 0 else "" for code in np.asarray(codes).tolist()]
    vectorizer = TfidfVectorizer(
        tokenizer=tokens,
        lowercase=False,  # tokens lower-cases
        token_pattern=None,
        sublinear_tf=True,
        min_df=min_df,
        max_features=max_terms,
        norm=None,
        dtype=np.float64,
    )
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # no term in min_df rows (or no text at all): no columns
        return sp.csr_matrix((len(texts), 0)), []
    return sp.csr_matrix(matrix), [f":{word}" for word in vectorizer.get_feature_names_out().tolist()]


def _binned(numbers: np.ndarray, bins: int = NUMERIC_BINS) -> tuple[sp.csr_matrix, list[str]]:
    """One column per quantile bin of the non-null values (fewer where values repeat)."""
    present = np.flatnonzero(~np.isnan(numbers))
    if len(present) == 0:
        return sp.csr_matrix((len(numbers), 0)), []
    edges = np.unique(np.quantile(numbers[present], np.linspace(0, 1, bins + 1)[1:-1]))
    which = np.searchsorted(edges, numbers[present], side="right")
    matrix = sp.csr_matrix((np.ones(len(present)), (present, which)), shape=(len(numbers), len(edges) + 1))
    return matrix, [f"#{b}" for b in range(len(edges) + 1)]


def _standardized(numbers: np.ndarray) -> sp.csr_matrix:
    present = ~np.isnan(numbers)
    if not present.any():
        return sp.csr_matrix((len(numbers), 1))
    mean, spread = float(numbers[present].mean()), float(numbers[present].std())
    # z-scores clipped to [-3, 3] and scaled into [-1, 1], comparable with a unit block.
    column = np.where(present, np.clip((numbers - mean) / (spread or 1.0), -3, 3) / 3, 0.0)
    return sp.csr_matrix(column[:, None])
