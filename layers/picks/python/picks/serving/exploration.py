"""Item exploration for User-Personalization: young items with little evidence get a score bonus.

A campaign's (or batch inference job's) ``itemExplorationConfig`` sets ``explorationWeight`` ``w``
(0..1, default 0.3) and ``explorationItemAgeCutOff`` ``T`` (days, default 30).  Training stores per
item its creation time (the ITEMS dataset's CREATION_TIMESTAMP, else its first interaction), its
interaction count ``n`` and its impression count ``m`` (``training/exploration.py``); an item's age
``a`` is counted in days back from the training data's latest interaction (0 for an item created
after it, or with neither a creation time nor an interaction).  For every item with ``a < T``::

    bonus = BONUS_SCALE · w · (1 - a / T) · u / sqrt(1 + n + m)

where ``u`` is uniform in [0, 1), drawn per (request, item) from a seed: by default the user id
hashed with the model's data end (``request_seed``), so a user gets the same list from
GetRecommendations and from a batch inference job over the same model, and a new model version
draws afresh.  Items at or past the cut-off get nothing.  The bonus is added to the request's
blended scores (normalised to [-1, 1], so ``BONUS_SCALE`` 2 lets an unseen new item climb over any
relevance at ``w`` near 1) before the top k are chosen; the reported scores are the softmax of the
explored scores over every item.  With ``u`` fixed the bonus grows with ``w`` and shrinks with age,
interactions and impressions (tests/unit/test_exploration.py).

Catalogue-only items (in the ITEMS dataset, never interacted with: a zero factor row) have no
relevance; they are only ever recommended through the bonus (their score is -inf otherwise), so a
weight of 0 ranks exactly as a model without them.  Where the model has no catalogue-only item, a
weight of 0 leaves the scores untouched, bit for bit.
"""

from __future__ import annotations

import base64
import hashlib
import math
import secrets
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Mapping

    from picks.model_artifact import ModelArtifact

DEFAULT_WEIGHT = 0.3
DEFAULT_AGE_CUTOFF_DAYS = 30.0
BONUS_SCALE = 2.0
SECONDS_PER_DAY = 86_400.0
# The artifact's arrays (written by training/exploration.py) and its info key.
CREATED = "item_created"  # float64 epoch seconds per item, NaN where unknown
INTERACTIONS = "item_interactions"  # float32 per item
IMPRESSIONS = "item_impressions"  # float32 per item
REFERENCE = "explorationReference"  # the training data's latest interaction, epoch seconds


@dataclass(frozen=True)
class ExplorationConfig:
    """``itemExplorationConfig`` as numbers; ``seed``: None for the per-user default."""

    weight: float = DEFAULT_WEIGHT
    age_cutoff_days: float = DEFAULT_AGE_CUTOFF_DAYS
    seed: int | None = None

    @classmethod
    def from_wire(cls, given: Mapping[str, Any] | None) -> ExplorationConfig:
        """From a validated ``itemExplorationConfig`` (string values; missing keys: the defaults)."""
        given = given or {}
        return cls(
            float(given.get("explorationWeight", DEFAULT_WEIGHT)),
            float(given.get("explorationItemAgeCutOff", DEFAULT_AGE_CUTOFF_DAYS)),
        )


def bonus_scale(
    weight: float,
    age_days: np.ndarray,
    age_cutoff_days: float,
    interactions: np.ndarray,
    impressions: np.ndarray,
) -> np.ndarray:
    """The bonus per item before its draw ``u``: ``BONUS_SCALE · w · (1 - a / T) / sqrt(1 + n + m)``
    for items younger than the cut-off, 0 for the others (float64)."""
    age = np.maximum(np.asarray(age_days, dtype=np.float64), 0.0)
    freshness = np.clip(1.0 - age / age_cutoff_days, 0.0, 1.0)
    evidence = 1.0 + np.maximum(interactions, 0.0) + np.maximum(impressions, 0.0)
    scale: np.ndarray = BONUS_SCALE * weight * freshness / np.sqrt(evidence)
    return scale


def request_seed(user_id: str | None, salt: int, seed: int | None = None) -> int:
    """The seed of a request's draws: the user id hashed with ``salt`` (the model's data end) or
    with the configured ``seed``; stable across processes (no Python ``hash``)."""
    key = f"{salt if seed is None else seed}:{user_id or ''}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")


@dataclass(frozen=True)
class Explorer:
    """A model's exploration under one configuration: which items get a bonus and how large."""

    candidates: np.ndarray  # item indices with a positive bonus scale
    scale: np.ndarray  # float32, their bonus scale
    hidden: np.ndarray  # catalogue-only items without a bonus: -inf
    salt: int
    seed: int | None
    is_candidate: np.ndarray  # bool per item: in ``candidates`` (a lookup for an answer's few items)

    @property
    def changes_nothing(self) -> bool:
        return len(self.candidates) == 0 and len(self.hidden) == 0

    def bonus(self, user_id: str | None) -> np.ndarray:
        """The candidates' bonus for this user's request (float32)."""
        draws = np.random.default_rng(request_seed(user_id, self.salt, self.seed)).random(
            len(self.candidates), dtype=np.float32
        )
        values: np.ndarray = self.scale * draws
        return values

    def apply(self, score: np.ndarray, user_id: str | None) -> None:
        """Adds the bonus to ``score`` in place; catalogue-only items keep a score only through it.
        A catalogue-only item whose score is not 0 was lifted as one of the user's repeats (an item
        they interacted with after training): it keeps that score."""
        if len(self.hidden):
            hidden = self.hidden[score[self.hidden] == 0]
            score[hidden] = -np.inf
        if len(self.candidates):
            score[self.candidates] += self.bonus(user_id)


@dataclass
class ItemEvidence:
    """What exploration knows of each item of a model (from its artifact)."""

    age_days: np.ndarray
    interactions: np.ndarray
    impressions: np.ndarray
    cold: np.ndarray  # catalogue-only items (zero factor row)
    salt: int
    _explorers: dict[tuple[float, float, int | None], Explorer] = field(default_factory=dict)

    @classmethod
    def from_artifact(cls, artifact: ModelArtifact, item_factors: np.ndarray) -> ItemEvidence | None:
        """None for a model trained without exploration's arrays: it explores nothing."""
        arrays = artifact.arrays
        if CREATED not in arrays or REFERENCE not in artifact.info:
            return None
        reference = float(artifact.info[REFERENCE])
        created = np.asarray(arrays[CREATED], dtype=np.float64)
        age = np.where(np.isnan(created), 0.0, np.maximum(reference - created, 0.0) / SECONDS_PER_DAY)
        return cls(
            age,
            np.asarray(arrays[INTERACTIONS], dtype=np.float64),
            np.asarray(arrays[IMPRESSIONS], dtype=np.float64),
            np.flatnonzero(~item_factors.any(axis=1)),
            int(reference),
        )

    def explorer(self, config: ExplorationConfig) -> Explorer:
        """The ``Explorer`` for ``config``, built once per configuration."""
        key = (config.weight, config.age_cutoff_days, config.seed)
        found = self._explorers.get(key)
        if found is None:
            found = self._explorers[key] = self._build(config)
        return found

    def _build(self, config: ExplorationConfig) -> Explorer:
        if not (config.weight > 0 and math.isfinite(config.age_cutoff_days) and config.age_cutoff_days > 0):
            candidates = np.empty(0, np.int64)
            scale = np.empty(0, np.float32)
        else:
            full = bonus_scale(
                config.weight, self.age_days, config.age_cutoff_days, self.interactions, self.impressions
            )
            candidates = np.flatnonzero(full > 0)
            scale = full[candidates].astype(np.float32)
        is_candidate = np.zeros(len(self.age_days), dtype=bool)
        is_candidate[candidates] = True
        hidden = self.cold[~is_candidate[self.cold]]
        return Explorer(candidates, scale, hidden, self.salt, config.seed, is_candidate)


def explore(
    evidence: ItemEvidence | None,
    config: ExplorationConfig | None,
    user_id: str | None,
    scored: tuple[np.ndarray | None, np.ndarray],
) -> tuple[np.ndarray | None, np.ndarray]:
    """A request's ``(scores, excluded)`` with the exploration bonus added to the scores (in place:
    they are the request's own).  Unchanged without evidence, configuration or scores (a user
    served popular items explores nothing)."""
    score = scored[0]
    if evidence is None or config is None or score is None:
        return scored
    explorer = evidence.explorer(config)
    if not explorer.changes_nothing:
        explorer.apply(score, user_id)
    return scored


# --- impressions implied by a recommendationId ---------------------------------------------------------
#
# PutEvents names the recommendation an event answered (``recommendationId``, at most 40 characters);
# the items that recommendation showed and the user did not choose are impressions of them.  picks
# keeps no record of its answers, so a GetRecommendations answer that shows explored items (the ones
# whose impressions change their bonus) carries them in its id: ``RIE-`` and the URL-safe base64 of a
# 3-byte nonce and a 4-byte digest per explored item (at most ``MAX_EXPLORED_IN_ID``).  Training
# exports such an event's explored items as its IMPRESSION (``#`` and the digest's hex per item,
# matched against the catalogue's digests: ``item_token``) unless the event lists its impressions.
PLAIN_ID_PREFIX = "RID-"
EXPLORED_ID_PREFIX = "RIE-"
MAX_EXPLORED_IN_ID = 6  # 3 + 6 × 4 bytes = 36 base64 characters: 40 with the prefix
_NONCE_BYTES, _DIGEST_BYTES = 3, 4
TOKEN_PREFIX = "#"


def _digest(item_id: str) -> bytes:
    return hashlib.blake2b(item_id.encode(), digest_size=_DIGEST_BYTES).digest()


def item_token(item_id: str) -> str:
    """How an IMPRESSION implied by a recommendationId names ``item_id``."""
    return TOKEN_PREFIX + _digest(item_id).hex()


def recommendation_id(explored_items: list[str]) -> str:
    """A GetRecommendations answer's id: random, and naming up to ``MAX_EXPLORED_IN_ID`` of the
    explored items it shows (the first ones in the answer); 36 or 40 characters."""
    if not explored_items:
        return f"{PLAIN_ID_PREFIX}{uuid.uuid4().hex}"
    payload = secrets.token_bytes(_NONCE_BYTES) + b"".join(
        _digest(item) for item in explored_items[:MAX_EXPLORED_IN_ID]
    )
    return EXPLORED_ID_PREFIX + base64.urlsafe_b64encode(payload).decode().rstrip("=")


def shown_tokens(recommendation: str | None) -> list[str]:
    """The ``item_token``s of the explored items a ``recommendation_id`` names ([] for any other id)."""
    if not recommendation or not recommendation.startswith(EXPLORED_ID_PREFIX):
        return []
    encoded = recommendation[len(EXPLORED_ID_PREFIX) :]
    try:
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (ValueError, TypeError):
        return []
    digests = payload[_NONCE_BYTES:]
    if len(digests) % _DIGEST_BYTES or len(digests) > MAX_EXPLORED_IN_ID * _DIGEST_BYTES:
        return []
    return [
        TOKEN_PREFIX + digests[start : start + _DIGEST_BYTES].hex()
        for start in range(0, len(digests), _DIGEST_BYTES)
    ]
