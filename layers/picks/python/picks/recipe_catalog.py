"""The recipe catalog: every Personalize recipe, and which of them picks can train.

One source of truth for the control plane (ListRecipes, DescribeRecipe, DescribeAlgorithm,
DescribeFeatureTransformation, CreateSolution's checks) and for training, which reads each
recipe's default hyperparameters from here.  Every recipe the Personalize developer guide lists is
present, so clients that look a recipe up by its real ARN get a real answer; ``implemented`` says
whether picks can train it today.

Hyperparameter values are strings, as Personalize passes them in
``solutionConfig.algorithmHyperParameters``.  For recipes picks trains, the defaults are picks'
own (its models differ from AWS's; the documented keys are kept and picks adds its own); for the
others they are the documented AWS defaults.  Featurization parameters (the history-length
percentiles, ...) sit beside the algorithm's own in ``default_hyperparameters``: picks' training
reads a single map.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from picks.arns import RECIPE_PREFIX
from picks.errors import ResourceNotFoundException

if TYPE_CHECKING:
    from collections.abc import Mapping

# Global catalog ARNs carry no region or account: arn:aws:personalize:::recipe/<name>.
ALGORITHM_PREFIX = "arn:aws:personalize:::algorithm/"
FEATURE_TRANSFORMATION_PREFIX = "arn:aws:personalize:::feature-transformation/"

USER_PERSONALIZATION = "USER_PERSONALIZATION"
RELATED_ITEMS = "RELATED_ITEMS"
PERSONALIZED_RANKING = "PERSONALIZED_RANKING"
POPULAR_ITEMS = "POPULAR_ITEMS"
PERSONALIZED_ACTIONS = "PERSONALIZED_ACTIONS"
USER_SEGMENTATION = "USER_SEGMENTATION"

ECOMMERCE = "ECOMMERCE"
VIDEO_ON_DEMAND = "VIDEO_ON_DEMAND"

# The catalog is global and read-only; its timestamps are a fixed date (Personalize's general
# availability, June 2019) so that Describe answers never change between calls.
CATALOG_TIMESTAMP = 1559347200.0

INTEGER = "integer"
CONTINUOUS = "continuous"
CATEGORICAL = "categorical"
BOOLEAN_VALUES = ("true", "false")


@dataclass(frozen=True)
class HyperParameterRange:
    """One hyperparameter's allowed range, as DescribeAlgorithm's defaultHyperParameterRanges lists it."""

    name: str
    kind: str  # INTEGER | CONTINUOUS | CATEGORICAL
    tunable: bool
    min_value: float | None = None
    max_value: float | None = None
    values: tuple[str, ...] = ()

    def as_api(self) -> dict[str, Any]:
        if self.kind == CATEGORICAL:
            return {"name": self.name, "values": list(self.values), "isTunable": self.tunable}
        assert self.min_value is not None and self.max_value is not None  # numeric ranges have both
        cast = int if self.kind == INTEGER else float
        return {
            "name": self.name,
            "minValue": cast(self.min_value),
            "maxValue": cast(self.max_value),
            "isTunable": self.tunable,
        }


def _integer(name: str, low: int, high: int, *, tunable: bool) -> HyperParameterRange:
    return HyperParameterRange(name, INTEGER, tunable, low, high)


def _continuous(name: str, low: float, high: float, *, tunable: bool) -> HyperParameterRange:
    return HyperParameterRange(name, CONTINUOUS, tunable, low, high)


def _categorical(name: str, values: tuple[str, ...], *, tunable: bool) -> HyperParameterRange:
    return HyperParameterRange(name, CATEGORICAL, tunable, values=values)


@dataclass(frozen=True)
class Recipe:
    name: str
    recipe_type: str
    description: str
    implemented: bool
    algorithm: str
    feature_transformation: str | None
    default_hyperparameters: Mapping[str, str]
    hyperparameter_ranges: tuple[HyperParameterRange, ...]
    domain: str | None = None
    # trainingMode=UPDATE (add new items without a full retrain) is allowed for this recipe.
    update_training: bool = False

    @property
    def arn(self) -> str:
        return f"{RECIPE_PREFIX}{self.name}"

    @property
    def algorithm_arn(self) -> str:
        return f"{ALGORITHM_PREFIX}{self.algorithm}"

    @property
    def feature_transformation_arn(self) -> str | None:
        if self.feature_transformation is None:
            return None
        return f"{FEATURE_TRANSFORMATION_PREFIX}{self.feature_transformation}"

    def default_hyperparameter_ranges(self) -> dict[str, list[dict[str, Any]]]:
        """DescribeAlgorithm's ``defaultHyperParameterRanges``."""
        return {
            f"{kind}HyperParameterRanges": [r.as_api() for r in self.hyperparameter_ranges if r.kind == kind]
            for kind in (INTEGER, CONTINUOUS, CATEGORICAL)
        }


@dataclass(frozen=True)
class FeatureTransformation:
    name: str
    default_parameters: Mapping[str, str]

    @property
    def arn(self) -> str:
        return f"{FEATURE_TRANSFORMATION_PREFIX}{self.name}"


def _frozen(values: dict[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(values or {}))


# Featurization parameters shared by several recipes (developer guide, recipe pages).
_HISTORY_PERCENTILES = {
    "min_user_history_length_percentile": "0.0",
    "max_user_history_length_percentile": "0.99",
}
_HISTORY_PERCENTILE_RANGES = (
    _continuous("min_user_history_length_percentile", 0.0, 1.0, tunable=False),
    _continuous("max_user_history_length_percentile", 0.0, 1.0, tunable=False),
)
_SIMS_FEATURIZATION = {
    "min_user_history_length_percentile": "0.005",
    "max_user_history_length_percentile": "0.995",
    "min_item_interaction_count_percentile": "0.01",
    # picks clips the popularity used for damping to these percentiles; 1.0 (no upper clip) measured best.
    "max_item_interaction_count_percentile": "1.0",
}
_SIMS_FEATURIZATION_RANGES = tuple(_continuous(name, 0.0, 1.0, tunable=False) for name in _SIMS_FEATURIZATION)
_COLD_START = {
    "cold_start_max_interactions": "15",
    "cold_start_max_duration": "5.0",
    "cold_start_relative_from": "latestItem",
}
_HRNN_RANGES = (
    _integer("hidden_dimension", 32, 256, tunable=True),
    _integer("bptt", 2, 32, tunable=True),
    _categorical("recency_mask", BOOLEAN_VALUES, tunable=True),
    *_HISTORY_PERCENTILE_RANGES,
)
_RECENCY_BIAS_RANGES = (_categorical("apply_recency_bias", BOOLEAN_VALUES, tunable=False),)

# picks trains User-Personalization and Personalized-Ranking with one implicit-feedback ALS model
# (see training/); the documented HRNN keys are accepted so existing solution configs still work.
_PICKS_ALS_DEFAULTS = {
    # 32 and 64 factors measured the same on MovieLens (mean precision@10 over three holdouts);
    # 32 trains in half the time.
    "hidden_dimension": "32",
    "bptt": "32",
    "recency_mask": "true",
    **_HISTORY_PERCENTILES,
    "als_iterations": "15",
    "als_regularization": "0.05",
    "als_alpha": "2.0",
    # Weight of the session signal: co-occurrence with the user's latest items, blended with the
    # factor score at request time (0 turns it off).
    "recent_item_weight": "1.0",
    # Weight of the request's context (interaction metadata such as DEVICE) on the scores.
    "context_weight": "0.5",
    # A recent item is recommended again when the chance, learned from the training users, that the
    # user comes back to it (a click followed by a purchase of the same item) is above this: about the
    # precision of a fresh recommendation.  1 turns re-recommending off.
    "repeat_threshold": "0.05",
    # auto: training measures, on the holdout, whether leaving out what users already interacted with
    # helps (catalogues watched once) or hurts (repeat purchases), and keeps the better; either way
    # recent items above repeat_threshold may come back.  true: nothing the user touched comes back.
    "exclude_interacted_items": "auto",
}
_PICKS_ALS_RANGES = (
    *_HRNN_RANGES,
    _integer("als_iterations", 1, 100, tunable=True),
    _continuous("als_regularization", 0.0, 10.0, tunable=True),
    _continuous("als_alpha", 0.1, 100.0, tunable=True),
    _continuous("recent_item_weight", 0.0, 10.0, tunable=True),
    _continuous("context_weight", 0.0, 10.0, tunable=True),
    _continuous("repeat_threshold", 0.0, 1.0, tunable=True),
    _categorical("exclude_interacted_items", ("auto", *BOOLEAN_VALUES), tunable=False),
)
# aws-user-personalization's use of item and user metadata (training/metadata.py): a ridge map
# from metadata features to the ALS factors of well-observed items (users), giving items (users)
# with fewer than cold_*_interactions a blend of their ALS vector and their metadata's prediction,
# and those with none (PutItems / PutUsers records, USERS rows) the prediction alone.  Personalize
# uses the datasets' metadata whenever they exist: on by default, a no-op without metadata.
_PICKS_METADATA_DEFAULTS = {
    "use_metadata": "true",
    "metadata_regularization": "1.0",
    "cold_item_interactions": "5",
    "cold_user_interactions": "5",
}
_PICKS_METADATA_RANGES = (
    _categorical("use_metadata", BOOLEAN_VALUES, tunable=False),
    _continuous("metadata_regularization", 0.0, 1000.0, tunable=True),
    _integer("cold_item_interactions", 0, 1000, tunable=False),
    _integer("cold_user_interactions", 0, 1000, tunable=False),
)
_PICKS_SIMS_DEFAULTS = {
    "popularity_discount_factor": "0.5",
    "min_cointeraction_count": "3",
    **_SIMS_FEATURIZATION,
    # picks additions (training/recipes/sims.py): each user's co-occurrences weigh
    # history_length ** -user_history_length_discount, and pairs interacted with within
    # sequence_window positions of each other add sequence_weight * sequence_decay ** distance.
    # On MovieLens (mean precision@10 over ten holdouts) this took SIMS from 0.061 to 0.073.
    "user_history_length_discount": "0.3",
    "sequence_weight": "1.0",
    "sequence_window": "10",
    "sequence_decay": "0.8",
}
_PICKS_SIMS_RANGES = (
    _continuous("popularity_discount_factor", 0.0, 1.0, tunable=True),
    _integer("min_cointeraction_count", 0, 10, tunable=True),
    *_SIMS_FEATURIZATION_RANGES,
    _continuous("user_history_length_discount", 0.0, 1.0, tunable=True),
    _continuous("sequence_weight", 0.0, 10.0, tunable=True),
    _integer("sequence_window", 0, 100, tunable=False),
    _continuous("sequence_decay", 0.0, 1.0, tunable=True),
)
# aws-similar-items (training/recipes/similar_items.py): picks blends SIMS co-occurrence (SIMS's
# settings) with metadata cosine, metadata_weight of it for an item with cold_item_interactions users
# or more, all of it for an item with none; item_id_hidden_dim is the rank of the co-occurrence
# factors a cold item's co-occurrence is estimated through (item_metadata_hidden_dim is accepted).
_PICKS_SIMILAR_ITEMS_DEFAULTS = {
    "item_id_hidden_dim": "100",
    "item_metadata_hidden_dim": "100",
    "metadata_weight": "0.1",
    "cold_item_interactions": "5",
    **_PICKS_SIMS_DEFAULTS,
}
_PICKS_SIMILAR_ITEMS_RANGES = (
    _integer("item_id_hidden_dim", 30, 200, tunable=True),
    _integer("item_metadata_hidden_dim", 30, 200, tunable=True),
    _continuous("metadata_weight", 0.0, 1.0, tunable=True),
    _integer("cold_item_interactions", 0, 1000, tunable=False),
    *_PICKS_SIMS_RANGES,
)
# USER_SEGMENTATION recipes (training/recipes/segmentation.py): the documented hidden_dimension
# (149, [32, 256]) with the ALS settings of User-Personalization.  Personalize allows no HPO here,
# so no range is tunable.
_PICKS_SEGMENT_DEFAULTS = {
    "hidden_dimension": "149",
    "als_iterations": "15",
    "als_regularization": "0.05",
    "als_alpha": "2.0",
    "recency_mask": "true",
}
_PICKS_SEGMENT_RANGES = (
    _integer("hidden_dimension", 32, 256, tunable=False),
    _integer("als_iterations", 1, 100, tunable=False),
    _continuous("als_regularization", 0.0, 10.0, tunable=False),
    _continuous("als_alpha", 0.1, 100.0, tunable=False),
    _categorical("recency_mask", BOOLEAN_VALUES, tunable=False),
)
_TREND_FREQUENCIES = ("30 minutes", "1 hour", "2 hours", "3 hours", "1 day")


def _custom(
    name: str,
    recipe_type: str,
    description: str,
    *,
    algorithm: str | None = None,
    feature_transformation: str | None = None,
    defaults: dict[str, str] | None = None,
    ranges: tuple[HyperParameterRange, ...] = (),
    implemented: bool = False,
    update_training: bool = False,
) -> Recipe:
    return Recipe(
        name=name,
        recipe_type=recipe_type,
        description=description,
        implemented=implemented,
        algorithm=algorithm or name,
        feature_transformation=feature_transformation,
        default_hyperparameters=_frozen(defaults),
        hyperparameter_ranges=ranges,
        update_training=update_training,
    )


def _domain(name: str, domain: str, recipe_type: str, description: str) -> Recipe:
    # Domain use cases are served by recommenders (CreateRecommender); they expose no hyperparameters.
    return Recipe(
        name=name,
        recipe_type=recipe_type,
        description=description,
        implemented=False,
        algorithm=name,
        feature_transformation=None,
        default_hyperparameters=_frozen(),
        hyperparameter_ranges=(),
        domain=domain,
    )


_CATALOG: tuple[Recipe, ...] = (
    # --- Custom recipes (developer guide, "Choosing a recipe") ---
    _custom(
        "aws-user-personalization-v2",
        USER_PERSONALIZATION,
        "Transformer-based personalized recommendations for up to 5 million items; "
        "manages exploration itself.",
        defaults={"apply_recency_bias": "true"},
        ranges=_RECENCY_BIAS_RANGES,
    ),
    _custom(
        "aws-user-personalization",
        USER_PERSONALIZATION,
        "Personalized item recommendations for a user from their interaction history, with exploration of "
        "new items. picks trains it as implicit-feedback matrix factorization (ALS).",
        defaults={**_PICKS_ALS_DEFAULTS, **_PICKS_METADATA_DEFAULTS},
        ranges=(*_PICKS_ALS_RANGES, *_PICKS_METADATA_RANGES),
        implemented=True,
        update_training=True,
    ),
    _custom(
        "aws-hrnn",
        USER_PERSONALIZATION,
        "Legacy hierarchical recurrent network over user histories.",
        feature_transformation="JSON-percentile-filtering",
        defaults={"hidden_dimension": "43", "bptt": "32", "recency_mask": "true", **_HISTORY_PERCENTILES},
        ranges=_HRNN_RANGES,
    ),
    _custom(
        "aws-hrnn-metadata",
        USER_PERSONALIZATION,
        "Legacy HRNN that also uses user and item metadata.",
        feature_transformation="featurize_metadata",
        defaults={"hidden_dimension": "43", "bptt": "32", "recency_mask": "true", **_HISTORY_PERCENTILES},
        ranges=_HRNN_RANGES,
    ),
    _custom(
        "aws-hrnn-coldstart",
        USER_PERSONALIZATION,
        "Legacy HRNN-Metadata with exploration of cold items.",
        feature_transformation="featurize_coldstart",
        defaults={
            "hidden_dimension": "149",
            "bptt": "32",
            "recency_mask": "true",
            **_COLD_START,
            **_HISTORY_PERCENTILES,
        },
        ranges=(
            *_HRNN_RANGES,
            _integer("cold_start_max_interactions", 1, 1000000, tunable=False),
            _continuous("cold_start_max_duration", 0.0, 1000000.0, tunable=False),
            _categorical("cold_start_relative_from", ("currentTime", "latestItem"), tunable=False),
        ),
    ),
    _custom(
        "aws-trending-now",
        POPULAR_ITEMS,
        "Items whose popularity is rising fastest, recomputed at the trend discovery frequency.",
        algorithm="aws-trending-now-custom",
        defaults={"trend_discovery_frequency": "2 hours"},
        ranges=(_categorical("trend_discovery_frequency", _TREND_FREQUENCIES, tunable=False),),
        implemented=True,
    ),
    _custom(
        "aws-popularity-count",
        POPULAR_ITEMS,
        "The most popular items, counted as interactions from unique users; the same list for everyone.",
        feature_transformation="sims",
        implemented=True,
    ),
    _custom(
        "aws-personalized-ranking-v2",
        PERSONALIZED_RANKING,
        "Transformer-based re-ranking of a list of items for a user, for catalogs of up to 5 million items.",
        defaults={"apply_recency_bias": "true"},
        ranges=_RECENCY_BIAS_RANGES,
    ),
    _custom(
        "aws-personalized-ranking",
        PERSONALIZED_RANKING,
        "Ranks a given list of items for a user. "
        "picks scores with the same ALS model as User-Personalization.",
        feature_transformation="JSON-percentile-filtering",
        defaults=_PICKS_ALS_DEFAULTS,
        ranges=_PICKS_ALS_RANGES,
        implemented=True,
        update_training=True,
    ),
    _custom(
        "aws-similar-items",
        RELATED_ITEMS,
        "Items similar to a given item, from interactions and item metadata. picks blends SIMS "
        "co-occurrence with the cosine similarity of the items' metadata; cold items are supported.",
        defaults=_PICKS_SIMILAR_ITEMS_DEFAULTS,
        ranges=_PICKS_SIMILAR_ITEMS_RANGES,
        implemented=True,
    ),
    _custom(
        "aws-sims",
        RELATED_ITEMS,
        "Item-to-item similarities from co-occurrence in user histories; popular items for unknown items.",
        feature_transformation="sims",
        defaults=_PICKS_SIMS_DEFAULTS,
        ranges=_PICKS_SIMS_RANGES,
        implemented=True,
    ),
    _custom(
        "aws-semantic-similarity",
        RELATED_ITEMS,
        "Items semantically similar to a given item, from the item name and textual metadata.",
        feature_transformation="aws-semantic-similarity",
    ),
    _custom(
        "aws-next-best-action",
        PERSONALIZED_ACTIONS,
        "The actions a user is most likely to take next, with their propensity scores.",
        defaults={"action_optimization_period": "14"},
        ranges=(_integer("action_optimization_period", 7, 28, tunable=False),),
    ),
    _custom(
        "aws-item-affinity",
        USER_SEGMENTATION,
        "Segments of users most likely to interact with each given item (CreateBatchSegmentJob only). "
        "picks trains it as implicit-feedback matrix factorization (ALS).",
        feature_transformation="item-affinity",
        defaults=_PICKS_SEGMENT_DEFAULTS,
        ranges=_PICKS_SEGMENT_RANGES,
        implemented=True,
    ),
    _custom(
        "aws-item-attribute-affinity",
        USER_SEGMENTATION,
        "Segments of users most likely to interact with items that have given attribute values "
        "(CreateBatchSegmentJob only). picks trains it as implicit-feedback matrix factorization (ALS).",
        feature_transformation="item-attribute-affinity",
        defaults=_PICKS_SEGMENT_DEFAULTS,
        ranges=_PICKS_SEGMENT_RANGES,
        implemented=True,
    ),
    # --- Domain use cases (CreateRecommender) ---
    _domain(
        "aws-vod-because-you-watched-x",
        VIDEO_ON_DEMAND,
        RELATED_ITEMS,
        "Videos similar to one the user watched (Because you watched X).",
    ),
    _domain(
        "aws-vod-more-like-x",
        VIDEO_ON_DEMAND,
        RELATED_ITEMS,
        "Videos similar to a given video (More like X).",
    ),
    _domain(
        "aws-vod-most-popular", VIDEO_ON_DEMAND, POPULAR_ITEMS, "The most watched videos (Most popular)."
    ),
    _domain(
        "aws-vod-trending-now",
        VIDEO_ON_DEMAND,
        POPULAR_ITEMS,
        "Videos rising in popularity fastest (Trending now).",
    ),
    _domain(
        "aws-vod-top-picks",
        VIDEO_ON_DEMAND,
        USER_PERSONALIZATION,
        "Personalized video recommendations for a user (Top picks for you).",
    ),
    _domain(
        "aws-ecomm-popular-items-by-views", ECOMMERCE, POPULAR_ITEMS, "The most viewed items (Most viewed)."
    ),
    _domain(
        "aws-ecomm-popular-items-by-purchases",
        ECOMMERCE,
        POPULAR_ITEMS,
        "The most purchased items (Best sellers).",
    ),
    _domain(
        "aws-ecomm-frequently-bought-together",
        ECOMMERCE,
        RELATED_ITEMS,
        "Items customers buy together with a given item (Frequently bought together).",
    ),
    _domain(
        "aws-ecomm-customers-who-viewed-x-also-viewed",
        ECOMMERCE,
        RELATED_ITEMS,
        "Items viewed by customers who viewed a given item (Customers who viewed X also viewed).",
    ),
    _domain(
        "aws-ecomm-recommended-for-you",
        ECOMMERCE,
        USER_PERSONALIZATION,
        "Personalized item recommendations for a user (Recommended for you).",
    ),
)

RECIPES: Mapping[str, Recipe] = MappingProxyType({recipe.name: recipe for recipe in _CATALOG})
_BY_ALGORITHM: Mapping[str, Recipe] = MappingProxyType({recipe.algorithm: recipe for recipe in _CATALOG})

FEATURE_TRANSFORMATIONS: Mapping[str, FeatureTransformation] = MappingProxyType(
    {
        transformation.name: transformation
        for transformation in (
            FeatureTransformation("JSON-percentile-filtering", _frozen(_HISTORY_PERCENTILES)),
            FeatureTransformation("featurize_metadata", _frozen(_HISTORY_PERCENTILES)),
            FeatureTransformation("featurize_coldstart", _frozen({**_COLD_START, **_HISTORY_PERCENTILES})),
            FeatureTransformation("sims", _frozen(_SIMS_FEATURIZATION)),
            FeatureTransformation("aws-semantic-similarity", _frozen()),
            FeatureTransformation("item-affinity", _frozen()),
            FeatureTransformation("item-attribute-affinity", _frozen()),
        )
    }
)


def _named(arn: str, prefix: str) -> str | None:
    return arn[len(prefix) :] if arn.startswith(prefix) else None


def recipe_for_arn(arn: str, field: str = "recipeArn") -> Recipe:
    recipe = RECIPES.get(_named(arn, RECIPE_PREFIX) or "")
    if recipe is None:
        raise ResourceNotFoundException(f"{field}: recipe {arn} does not exist; ListRecipes lists them all.")
    return recipe


def recipe_for_algorithm_arn(arn: str, field: str = "algorithmArn") -> Recipe:
    """The recipe whose algorithm ``arn`` names (every built-in algorithm belongs to one recipe)."""
    recipe = _BY_ALGORITHM.get(_named(arn, ALGORITHM_PREFIX) or "")
    if recipe is None:
        raise ResourceNotFoundException(f"{field}: algorithm {arn} does not exist.")
    return recipe


def feature_transformation_for_arn(
    arn: str, field: str = "featureTransformationArn"
) -> FeatureTransformation:
    transformation = FEATURE_TRANSFORMATIONS.get(_named(arn, FEATURE_TRANSFORMATION_PREFIX) or "")
    if transformation is None:
        raise ResourceNotFoundException(f"{field}: feature transformation {arn} does not exist.")
    return transformation
