"""Deterministic synthetic retail data in Amazon Personalize's CSV/Avro shape.

Why synthetic: public rating datasets (MovieLens and friends) may not be
redistributed, and the demo must run offline.  The data is not uniform noise,
though: interactions are drawn from a latent-preference model so that a
personalised recommender measurably beats "most popular" on it.

The model
---------
* ``N_FACTORS``-dimensional latent space.  Each of the ``CATEGORIES`` has a unit
  centre vector; an item's factor vector is its category centre plus noise
  (sub-tastes inside a category).
* Each user draws a sparse category mixture from a Dirichlet whose prior depends
  on the user's AGE_GROUP (so user metadata is informative too); the user's
  taste vector is that mixture of centres plus a personal quirk.
* Items have a Zipf-like popularity; a fresh view of item *i* by user *u* is drawn
  from ``softmax(AFFINITY_SCALE * u·v_i + log popularity_i)``.  Tastes are strong enough that
  personalisation clearly beats "most popular" (about 2.5x its precision@10 in the demo).
* Views come in browsing sessions (minutes apart); within a session the next view is often one
  of the previous item's companions (its nearest items in the category): sequential co-views.
* Activity per user is log-normal and higher for better memberships.
* A fixed share of rows are purchases.  Most are of a viewed item, chosen with odds that grow
  with the user-item affinity, a few minutes after its view; ``BUNDLE_SHARE`` of them are
  planted co-purchases: the bought item's partner (``DemoData.bought_together``, pairs within a
  category) is viewed and bought in the same session.  So every purchase follows a view of the
  same item.

Everything derives from one ``numpy.random.Generator`` seeded by ``seed``, so
the same arguments always give byte-identical CSVs.

``write_interactions_csv`` streams a large interactions file (millions of rows)
with a cheaper hierarchical sampler (user -> category -> item) for benchmarks,
where a dense user x item probability matrix would not fit in memory.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, Unpack

import numpy as np

from demo.schemas import USER_ITEM_TIME, avro_schema

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = [
    "CATEGORIES",
    "DEFAULT_INTERACTIONS",
    "DEFAULT_ITEMS",
    "DEFAULT_USERS",
    "INTERACTIONS_HEADER",
    "INTERACTIONS_SCHEMA",
    "ITEMS_HEADER",
    "ITEMS_SCHEMA",
    "USERS_HEADER",
    "USERS_SCHEMA",
    "DemoData",
    "generate",
    "interactions_csv_chunks",
    "write_csvs",
    "write_interactions_csv",
]

DEFAULT_USERS = 1_000
DEFAULT_ITEMS = 500
DEFAULT_INTERACTIONS = 50_000
DEFAULT_SEED = 42

# 2024-01-01T00:00:00Z; fixed so output does not depend on the wall clock.
WINDOW_START = 1_704_067_200
WINDOW_SECONDS = 180 * 86_400
CATALOG_AGE_SECONDS = 2 * 365 * 86_400

N_FACTORS = 16
AFFINITY_SCALE = 9.0
TASTE_CONCENTRATION = 0.2  # Dirichlet alpha per category: < 1 gives users a few favourite categories
QUIRK_SCALE = 0.6  # personal / per-item deviation from the category centres
POPULARITY_EXPONENT = 0.7  # Zipf exponent of the popularity term
# The streaming sampler's (benchmarks): kept as they were so benchmark data stays comparable over time.
STREAM_TASTE_CONCENTRATION = 0.3
STREAM_POPULARITY_EXPONENT = 0.8
PURCHASE_RATE = 0.08  # share of rows that are purchases
PURCHASE_DELAY_SECONDS = (60, 3_600)
# Browsing sessions: a view continues the current session with this probability, this many seconds
# after the previous view, and is then (with FOLLOW_COMPANION) one of the previous item's
# COMPANIONS (its nearest items in its category) rather than a fresh draw from the user's taste.
SESSION_CONTINUE = 0.6
SESSION_GAP_SECONDS = (20, 600)
FOLLOW_COMPANION = 0.7
COMPANIONS = 3
# Share of purchases that are bundles: the item's partner is viewed and bought in the same session.
BUNDLE_SHARE = 0.3
BUNDLE_VIEW_DELAY_SECONDS = (30, 300)
BUNDLE_PURCHASE_DELAY_SECONDS = (60, 900)
REPEAT_PURCHASE_PENALTY = 50.0  # log-odds: a second view of an item is bought only if nothing else is left

MEMBERSHIPS = ("bronze", "silver", "gold")
MEMBERSHIP_WEIGHTS = (0.6, 0.3, 0.1)
MEMBERSHIP_ACTIVITY = (1.0, 1.5, 2.5)
AGE_GROUPS = ("18-24", "25-34", "35-44", "45-54", "55+")
AGE_GROUP_WEIGHTS = (0.18, 0.27, 0.24, 0.17, 0.14)

CATEGORIES = ("electronics", "kitchen", "apparel", "books", "outdoors", "beauty", "toys", "garden")
# Median price per category; prices are log-normal around it.
CATEGORY_PRICE = (120.0, 35.0, 40.0, 15.0, 60.0, 22.0, 25.0, 30.0)
# Relative category appetite per age group (rows: AGE_GROUPS, columns: CATEGORIES).
AGE_TASTE = np.array(
    [
        [3.0, 0.5, 2.5, 1.0, 1.5, 1.5, 1.0, 0.3],
        [2.5, 1.5, 2.0, 1.0, 1.5, 1.5, 1.5, 0.7],
        [1.5, 2.0, 1.2, 1.0, 1.2, 1.0, 2.5, 1.2],
        [1.0, 2.0, 1.0, 1.5, 1.0, 1.0, 1.0, 2.0],
        [0.7, 1.5, 0.8, 2.5, 0.7, 0.8, 1.0, 3.0],
    ]
)

_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "electronics": {
        "noun": ("headphones", "speaker", "charger", "smartwatch", "keyboard", "monitor", "webcam", "router"),
        "feature": (
            "noise cancelling",
            "fast charging",
            "a long-lasting battery",
            "Bluetooth 5.3",
            "a USB-C port",
            "a backlit display",
            "voice control",
            "a slim aluminium body",
        ),
        "use": ("commuting", "working from home", "gaming sessions", "video calls", "travel", "the office"),
    },
    "kitchen": {
        "noun": (
            "skillet",
            "knife set",
            "blender",
            "kettle",
            "cutting board",
            "coffee grinder",
            "dutch oven",
            "mixing bowl",
        ),
        "feature": (
            "a non-stick coating",
            "a stainless steel finish",
            "an ergonomic handle",
            "dishwasher-safe parts",
            "even heat distribution",
            "a precision burr",
        ),
        "use": (
            "weeknight dinners",
            "meal prep",
            "baking",
            "morning coffee",
            "family gatherings",
            "small kitchens",
        ),
    },
    "apparel": {
        "noun": (
            "hoodie",
            "rain jacket",
            "t-shirt",
            "chinos",
            "sneakers",
            "wool sweater",
            "denim jacket",
            "scarf",
        ),
        "feature": (
            "breathable cotton",
            "a water-repellent shell",
            "a relaxed fit",
            "recycled fibres",
            "reinforced seams",
            "a soft fleece lining",
        ),
        "use": ("everyday wear", "cool evenings", "weekend trips", "the gym", "layering", "rainy days"),
    },
    "books": {
        "noun": (
            "novel",
            "cookbook",
            "biography",
            "field guide",
            "thriller",
            "poetry collection",
            "atlas",
            "graphic novel",
        ),
        "feature": (
            "a gripping plot",
            "full-colour photographs",
            "an award-winning author",
            "a new foreword",
            "practical recipes",
            "detailed maps",
        ),
        "use": ("quiet evenings", "book clubs", "long flights", "curious minds", "gift giving", "the beach"),
    },
    "outdoors": {
        "noun": (
            "tent",
            "backpack",
            "trekking poles",
            "sleeping bag",
            "water bottle",
            "headlamp",
            "camp stove",
            "hammock",
        ),
        "feature": (
            "a lightweight frame",
            "weatherproof fabric",
            "an insulated body",
            "quick setup",
            "adjustable straps",
            "a compact pack size",
        ),
        "use": (
            "weekend hikes",
            "camping trips",
            "trail running",
            "festivals",
            "backcountry travel",
            "picnics",
        ),
    },
    "beauty": {
        "noun": (
            "moisturiser",
            "face serum",
            "shampoo",
            "lip balm",
            "sunscreen",
            "hair dryer",
            "nail kit",
            "body lotion",
        ),
        "feature": (
            "hyaluronic acid",
            "a fragrance-free formula",
            "natural oils",
            "SPF 50",
            "vitamin C",
            "a travel-size bottle",
        ),
        "use": (
            "daily routines",
            "sensitive skin",
            "dry climates",
            "summer days",
            "self-care evenings",
            "travel",
        ),
    },
    "toys": {
        "noun": (
            "building set",
            "puzzle",
            "board game",
            "plush bear",
            "remote control car",
            "art kit",
            "train set",
            "science kit",
        ),
        "feature": (
            "over 500 pieces",
            "bright colours",
            "rechargeable batteries",
            "child-safe materials",
            "step-by-step instructions",
            "a sturdy storage box",
        ),
        "use": (
            "family game night",
            "rainy afternoons",
            "young builders",
            "birthday gifts",
            "classrooms",
            "road trips",
        ),
    },
    "garden": {
        "noun": (
            "watering can",
            "pruning shears",
            "raised bed",
            "hose reel",
            "bird feeder",
            "planter",
            "seed starter kit",
            "garden gloves",
        ),
        "feature": (
            "rust-resistant steel",
            "UV-stable plastic",
            "a comfortable grip",
            "built-in drainage",
            "weatherproof wood",
            "a compact design",
        ),
        "use": (
            "balcony gardens",
            "vegetable patches",
            "spring planting",
            "patios",
            "beginner gardeners",
            "allotments",
        ),
    },
}
_ADJECTIVES = (
    "Classic",
    "Compact",
    "Premium",
    "Everyday",
    "Lightweight",
    "Durable",
    "Modern",
    "Essential",
    "Deluxe",
    "Versatile",
)
_BENEFITS = (
    "Built to last and easy to care for.",
    "A customer favourite for its value.",
    "Thoughtfully designed with comfort in mind.",
    "Ships in plastic-free packaging.",
    "Backed by a two-year warranty.",
    "Pairs well with the rest of the collection.",
    "Rated highly for quality and reliability.",
    "Makes a great gift.",
)

INTERACTIONS_HEADER = ("USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE")
ITEMS_HEADER = ("ITEM_ID", "CATEGORY", "PRICE", "DESCRIPTION", "CREATION_TIMESTAMP")
USERS_HEADER = ("USER_ID", "MEMBERSHIP", "AGE_GROUP")


INTERACTIONS_SCHEMA = avro_schema("Interactions", *USER_ITEM_TIME, ("EVENT_TYPE", "string"))
ITEMS_SCHEMA = avro_schema(
    "Items",
    ("ITEM_ID", "string"),
    ("CATEGORY", "string", "categorical"),
    ("PRICE", "float"),
    ("DESCRIPTION", "string", "textual"),
    ("CREATION_TIMESTAMP", "long"),
)
USERS_SCHEMA = avro_schema(
    "Users",
    ("USER_ID", "string"),
    ("MEMBERSHIP", "string", "categorical"),
    ("AGE_GROUP", "string", "categorical"),
)

UserRow = tuple[str, str, str]
ItemRow = tuple[str, str, float, str, int]
InteractionRow = tuple[str, str, int, str]


def _to_csv(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    # "\n" rather than csv's default "\r\n": identical bytes on every platform, and Personalize accepts both.
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


@dataclass(frozen=True)
class DemoData:
    """The three datasets as typed rows; the ``*_csv`` properties render Personalize CSV text."""

    users: list[UserRow]
    items: list[ItemRow]
    interactions: list[InteractionRow]
    seed: int
    # Planted co-purchases: item id -> the item bought together with it (in both directions).
    bought_together: dict[str, str] = field(default_factory=dict)
    schemas: dict[str, str] = field(
        default_factory=lambda: {
            "INTERACTIONS": INTERACTIONS_SCHEMA,
            "ITEMS": ITEMS_SCHEMA,
            "USERS": USERS_SCHEMA,
        }
    )

    @property
    def users_csv(self) -> str:
        return _to_csv(USERS_HEADER, self.users)

    @property
    def items_csv(self) -> str:
        return _to_csv(ITEMS_HEADER, self.items)

    @property
    def interactions_csv(self) -> str:
        return _to_csv(INTERACTIONS_HEADER, self.interactions)

    def csv_texts(self) -> dict[str, str]:
        """File stem -> CSV text, the layout ``write_csvs`` and the loader use."""
        return {"users": self.users_csv, "items": self.items_csv, "interactions": self.interactions_csv}


def _ids(prefix: str, count: int) -> list[str]:
    width = max(5, len(str(count)))
    return [f"{prefix}{index:0{width}d}" for index in range(1, count + 1)]


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def _zipf_log_popularity(
    rng: np.random.Generator, n: int, exponent: float = POPULARITY_EXPONENT
) -> np.ndarray:
    """Log-popularity with a random (not id-ordered) assignment of Zipf ranks to items."""
    ranks = rng.permutation(n) + 1
    return -exponent * np.log(ranks)


def _sample_rows(rng: np.random.Generator, logits: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Sample ``counts[r]`` columns (with replacement) from ``softmax(logits[r])`` for every row ``r``.

    Vectorised by laying the per-row CDFs end to end (row r spans [r, r+1)) and doing a
    single searchsorted, instead of one ``rng.choice`` call per user.
    """
    n_rows, n_cols = logits.shape
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    cdf = np.cumsum(probs, axis=1)
    cdf /= cdf[:, -1:]
    cdf[:, -1] = 1.0  # guard against rounding leaving the last bucket short of 1
    flat = (cdf + np.arange(n_rows)[:, None]).ravel()
    owners = np.repeat(np.arange(n_rows), counts)
    picks = np.searchsorted(flat, owners + rng.random(owners.size), side="right")
    return np.minimum(picks - owners * n_cols, n_cols - 1)


def _attach_purchases(
    rng: np.random.Generator,
    users: np.ndarray,
    items: np.ndarray,
    times: np.ndarray,
    n_purchases: int,
    log_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Turn ``n_purchases`` of the given views into view+purchase pairs; return rows sorted by time.

    Chosen without replacement with Gumbel top-k, so a purchase's odds follow ``exp(log_weight)``.
    """
    n_purchases = min(n_purchases, users.size)
    keys = rng.gumbel(size=users.size)
    if log_weight is not None:
        keys += log_weight
    bought = np.argpartition(-keys, n_purchases - 1)[:n_purchases] if n_purchases else np.empty(0, np.int64)
    bought.sort()  # argpartition's order is an implementation detail; sort so output is stable
    delay = rng.integers(*PURCHASE_DELAY_SECONDS, size=bought.size, endpoint=True)
    all_users = np.concatenate([users, users[bought]])
    all_items = np.concatenate([items, items[bought]])
    all_times = np.concatenate([times, times[bought] + delay])
    is_purchase = np.concatenate([np.zeros(users.size, bool), np.ones(bought.size, bool)])
    # Views sort before purchases at equal times; ties broken by user then item for determinism.
    order = np.lexsort((all_items, all_users, is_purchase, all_times))
    return all_users[order], all_items[order], all_times[order], is_purchase[order]


def _pair_within_categories(rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
    """Each item's "bought together" partner: items of a category are shuffled and paired off
    (an odd one out pairs with the first of its category's pairs; a category of one has none: -1)."""
    partner = np.full(category.size, -1, dtype=np.int64)
    for c in np.unique(category):
        members = rng.permutation(np.flatnonzero(category == c))
        first, second = members[0 : members.size - 1 : 2], members[1::2]
        partner[first], partner[second] = second, first
        if members.size % 2 and members.size > 1:
            partner[members[-1]] = members[0]
    return partner


def _companions(item_factors: np.ndarray, category: np.ndarray) -> np.ndarray:
    """Each item's ``COMPANIONS`` nearest items of its own category (by factor similarity): what a
    shopper looks at next.  Padded with the item itself where its category is that small."""
    similarity = item_factors @ item_factors.T
    similarity[category[:, None] != category[None, :]] = -np.inf
    np.fill_diagonal(similarity, -np.inf)
    width = min(COMPANIONS, category.size)
    nearest = np.argsort(-similarity, axis=1, kind="stable")[:, :width]
    own = np.arange(category.size)[:, None]
    return np.where(np.isfinite(np.take_along_axis(similarity, nearest, axis=1)), nearest, own)


def _sessions(
    rng: np.random.Generator, items: np.ndarray, counts: np.ndarray, companions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Group each user's views into browsing sessions and return (items, times).

    A view continues the user's current session with probability ``SESSION_CONTINUE``, a few
    minutes after the previous one; a continuing view is, with probability ``FOLLOW_COMPANION``, one
    of the previous item's companions instead of a fresh draw from the user's taste."""
    n_rows = items.size
    first = np.zeros(n_rows, dtype=bool)
    first[(np.cumsum(counts) - counts)[counts > 0]] = True
    continues = (rng.random(n_rows) < SESSION_CONTINUE) & ~first
    follows = continues & (rng.random(n_rows) < FOLLOW_COMPANION)
    choice = rng.integers(companions.shape[1], size=n_rows)
    items = items.copy()
    for row in np.flatnonzero(follows).tolist():  # sequential: a companion of a companion
        items[row] = companions[items[row - 1], choice[row]]
    session = np.cumsum(~continues) - 1
    starts = WINDOW_START + rng.integers(WINDOW_SECONDS, size=int(session[-1]) + 1 if n_rows else 0)
    # Sessions are numbered user by user, so sorting the starts within each user puts them in time order.
    owner = np.repeat(np.arange(counts.size), counts)
    session_owner = owner[~continues]
    starts = starts[np.lexsort((starts, session_owner))]
    gaps = np.where(continues, rng.integers(*SESSION_GAP_SECONDS, size=n_rows, endpoint=True), 0)
    # Offsets within the session: cumulative gaps since the session's first view.
    cumulative = np.cumsum(gaps)
    offset = cumulative - cumulative[np.flatnonzero(~continues)][session]
    return items, starts[session] + offset


def _bundle(
    rng: np.random.Generator,
    users: np.ndarray,
    items: np.ndarray,
    times: np.ndarray,
    is_purchase: np.ndarray,
    partner: np.ndarray,
    n_bundles: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Plant co-purchases: ``n_bundles`` purchases (of items that have a partner) get the partner
    viewed and bought in the same session, minutes later; rows returned in time order."""
    candidates = np.flatnonzero(is_purchase)
    chosen = np.sort(rng.choice(candidates, size=min(n_bundles, candidates.size), replace=False))
    # An item without a partner (alone in its category) is bought twice: a repeat purchase.
    partner = np.where(partner >= 0, partner, np.arange(partner.size))
    view_at = times[chosen] + rng.integers(*BUNDLE_VIEW_DELAY_SECONDS, size=chosen.size, endpoint=True)
    bought_at = view_at + rng.integers(*BUNDLE_PURCHASE_DELAY_SECONDS, size=chosen.size, endpoint=True)
    all_users = np.concatenate([users, users[chosen], users[chosen]])
    all_items = np.concatenate([items, partner[items[chosen]], partner[items[chosen]]])
    all_times = np.concatenate([times, view_at, bought_at])
    all_purchase = np.concatenate([is_purchase, np.zeros(chosen.size, bool), np.ones(chosen.size, bool)])
    order = np.lexsort((all_items, all_users, all_purchase, all_times))
    return all_users[order], all_items[order], all_times[order], all_purchase[order]


def generate(
    n_users: int = DEFAULT_USERS,
    n_items: int = DEFAULT_ITEMS,
    n_interactions: int = DEFAULT_INTERACTIONS,
    seed: int = DEFAULT_SEED,
) -> DemoData:
    """Generate users, items and exactly ``n_interactions`` interactions (views + purchases)."""
    if n_users < 1 or n_items < 1 or n_interactions < 0:
        raise ValueError("n_users and n_items must be >= 1 and n_interactions >= 0")
    rng = np.random.default_rng(seed)
    n_categories = len(CATEGORIES)

    # Users: metadata first, because taste and activity depend on it.
    membership = rng.choice(len(MEMBERSHIPS), size=n_users, p=MEMBERSHIP_WEIGHTS)
    age_group = rng.choice(len(AGE_GROUPS), size=n_users, p=AGE_GROUP_WEIGHTS)
    prior = AGE_TASTE[age_group]
    prior = prior / prior.mean(axis=1, keepdims=True) * TASTE_CONCENTRATION
    taste_mix = np.vstack([rng.dirichlet(alpha) for alpha in prior])

    # Items.
    centres = _unit_rows(rng.normal(size=(n_categories, N_FACTORS)))
    category = rng.integers(n_categories, size=n_items)
    item_factors = centres[category] + rng.normal(
        scale=QUIRK_SCALE / np.sqrt(N_FACTORS), size=(n_items, N_FACTORS)
    )
    log_popularity = _zipf_log_popularity(rng, n_items)
    price = np.exp(np.log(np.asarray(CATEGORY_PRICE))[category] + rng.normal(scale=0.5, size=n_items))
    price = np.maximum(np.round(price, 2), 0.99)
    created = WINDOW_START - rng.integers(86_400, CATALOG_AGE_SECONDS, size=n_items)
    descriptions = [_describe(rng, CATEGORIES[c]) for c in category]
    partner = _pair_within_categories(rng, category)
    companions = _companions(item_factors, category)

    user_factors = taste_mix @ centres + rng.normal(
        scale=QUIRK_SCALE / np.sqrt(N_FACTORS), size=(n_users, N_FACTORS)
    )

    # Row budget: views, purchases of viewed items, and bundles (a partner's view + purchase).
    n_purchases = int(round(n_interactions * PURCHASE_RATE))
    n_bundles = int(round(n_purchases * BUNDLE_SHARE))
    n_views = n_interactions - n_purchases - n_bundles
    base = min(2, n_views // n_users)
    activity = rng.lognormal(sigma=1.0, size=n_users) * np.asarray(MEMBERSHIP_ACTIVITY)[membership]
    counts = base + rng.multinomial(n_views - base * n_users, activity / activity.sum())

    # Sample views in blocks of users so memory stays O(block * n_items) for big catalogs.
    view_items: list[np.ndarray] = []
    block = max(1, 2_000_000 // n_items)
    for start in range(0, n_users, block):
        stop = min(start + block, n_users)
        affinity = AFFINITY_SCALE * (user_factors[start:stop] @ item_factors.T)
        view_items.append(_sample_rows(rng, affinity + log_popularity, counts[start:stop]))
    items_idx = np.concatenate(view_items) if view_items else np.empty(0, np.int64)
    items_idx, times = _sessions(rng, items_idx, counts, companions)
    users_idx = np.repeat(np.arange(n_users), counts)
    affinity_of_views = AFFINITY_SCALE * np.einsum(
        "ij,ij->i", user_factors[users_idx], item_factors[items_idx]
    )
    # A shopper buys an item once: only a pair's first view may turn into a purchase (unless too few).
    _, first_views = np.unique(users_idx * n_items + items_idx, return_index=True)
    repeated = np.ones(users_idx.size, dtype=bool)
    repeated[first_views] = False
    users_idx, items_idx, times, is_purchase = _attach_purchases(
        rng,
        users_idx,
        items_idx,
        times,
        n_purchases - n_bundles,
        log_weight=affinity_of_views - REPEAT_PURCHASE_PENALTY * repeated,
    )
    users_idx, items_idx, times, is_purchase = _bundle(
        rng, users_idx, items_idx, times, is_purchase, partner, n_bundles
    )

    user_ids = _ids("U", n_users)
    item_ids = _ids("I", n_items)
    return DemoData(
        users=[(user_ids[u], MEMBERSHIPS[membership[u]], AGE_GROUPS[age_group[u]]) for u in range(n_users)],
        items=[
            (item_ids[i], CATEGORIES[category[i]], float(price[i]), descriptions[i], int(created[i]))
            for i in range(n_items)
        ],
        interactions=[
            (user_ids[u], item_ids[i], t, "Purchase" if p else "View")
            for u, i, t, p in zip(
                users_idx.tolist(), items_idx.tolist(), times.tolist(), is_purchase.tolist(), strict=True
            )
        ],
        seed=seed,
        bought_together={item_ids[i]: item_ids[j] for i, j in enumerate(partner.tolist()) if j >= 0},
    )


def _describe(rng: np.random.Generator, category: str) -> str:
    words = _WORDS[category]

    def pick(options: Sequence[str]) -> str:
        return options[int(rng.integers(len(options)))]

    first_use, second_use = (
        words["use"][int(k)] for k in rng.choice(len(words["use"]), size=2, replace=False)
    )
    sentences = [
        f"{pick(_ADJECTIVES)} {pick(words['noun'])} with {pick(words['feature'])}.",
        f"Ideal for {first_use} and {second_use}.",
    ]
    if rng.random() < 0.6:
        sentences.append(pick(_BENEFITS))
    return " ".join(sentences)


def write_csvs(data: DemoData, directory: str | Path) -> dict[str, Path]:
    """Write ``users.csv``, ``items.csv`` and ``interactions.csv``; return stem -> path."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for stem, text in data.csv_texts().items():
        path = target / f"{stem}.csv"
        path.write_text(text, encoding="utf-8", newline="")
        paths[stem] = path
    return paths


class CsvOptions(TypedDict, total=False):
    """The keyword options of ``interactions_csv_chunks``, which ``write_interactions_csv`` passes on."""

    n_users: int
    n_items: int
    seed: int
    chunk_rows: int
    header: bool


def interactions_csv_chunks(
    n_rows: int,
    *,
    n_users: int = 50_000,
    n_items: int = 10_000,
    seed: int = DEFAULT_SEED,
    chunk_rows: int = 250_000,
    header: bool = True,
) -> Iterator[str]:
    """Yield CSV text for ``n_rows`` interactions, chunk by chunk, oldest first.

    Hierarchical sampler (user by activity -> category by the user's taste mixture -> item
    by popularity within the category): the same kind of low-rank preference signal as
    ``generate`` but O(n_users * categories) memory, so millions of rows take seconds.
    """
    rng = np.random.default_rng(seed)
    n_categories = len(CATEGORIES)
    activity = rng.lognormal(sigma=1.0, size=n_users)
    user_cdf = np.cumsum(activity / activity.sum())
    taste_cdf = np.cumsum(
        rng.dirichlet(np.full(n_categories, STREAM_TASTE_CONCENTRATION), size=n_users), axis=1
    )
    item_category = rng.integers(n_categories, size=n_items)
    popularity = np.exp(_zipf_log_popularity(rng, n_items, STREAM_POPULARITY_EXPONENT))
    members = [np.flatnonzero(item_category == c) for c in range(n_categories)]
    member_cdfs = [np.cumsum(popularity[m] / popularity[m].sum()) for m in members]
    user_ids = np.array(_ids("U", n_users), dtype=object)
    item_ids = np.array(_ids("I", n_items), dtype=object)

    if header:
        yield ",".join(INTERACTIONS_HEADER) + "\n"
    n_chunks = max(1, -(-n_rows // chunk_rows))
    slice_seconds = WINDOW_SECONDS // n_chunks
    for chunk_index, start in enumerate(range(0, n_rows, chunk_rows)):
        size = min(chunk_rows, n_rows - start)
        n_purchases = int(round(size * PURCHASE_RATE))
        n_views = size - n_purchases
        users = np.minimum(np.searchsorted(user_cdf, rng.random(n_views), side="right"), n_users - 1)
        categories = np.minimum(
            (taste_cdf[users] < rng.random(n_views)[:, None]).sum(axis=1), n_categories - 1
        )
        items = np.empty(n_views, dtype=np.int64)
        draws = rng.random(n_views)
        for c in range(n_categories):
            rows = np.flatnonzero(categories == c)
            if rows.size == 0:
                continue
            if members[c].size == 0:  # tiny catalogs may leave a category empty
                items[rows] = rng.integers(n_items, size=rows.size)
                continue
            local = np.minimum(
                np.searchsorted(member_cdfs[c], draws[rows], side="right"), members[c].size - 1
            )
            items[rows] = members[c][local]
        # Consecutive time slices per chunk keep the whole file in time order.
        times = WINDOW_START + chunk_index * slice_seconds + rng.integers(slice_seconds, size=n_views)
        users, items, times, is_purchase = _attach_purchases(rng, users, items, times, n_purchases)
        events = np.where(is_purchase, "Purchase", "View").astype(object)
        lines = map(
            ",".join,
            zip(user_ids[users], item_ids[items], times.astype(str).astype(object), events, strict=True),
        )
        yield "\n".join(lines) + "\n"


def write_interactions_csv(path: str | Path, n_rows: int, **options: Unpack[CsvOptions]) -> Path:
    """Stream ``n_rows`` synthetic interactions to ``path`` (see ``interactions_csv_chunks``)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8", newline="") as handle:
        for chunk in interactions_csv_chunks(n_rows, **options):
            handle.write(chunk)
    return target


if __name__ == "__main__":  # pragma: no cover - convenience: python -m demo.synthetic OUTDIR
    import sys

    for name, written in write_csvs(generate(), sys.argv[1] if len(sys.argv) > 1 else "demo-data").items():
        print(f"{name}: {written}")
