"""Words, templates and names the synthetic tables are written with."""

from __future__ import annotations

SECTORS = ("Technology", "Energy", "Financials", "Healthcare", "Industrials", "Consumer")

NEGATIVE_WORDS = (
    "slide",
    "slump",
    "warns",
    "cut",
    "misses",
    "downgrade",
    "delays",
    "default",
    "tighten",
    "plunge",
    "probe",
    "losses",
    "crushed",
    "dumping",
    "bagholders",
    "rug",
    "bleeding",
    "scared",
)
POSITIVE_WORDS = (
    "beats",
    "raises",
    "wins",
    "upgrade",
    "record",
    "strong",
    "surge",
    "moon",
    "loading",
    "ripping",
    "bullish",
    "undervalued",
    "growth",
    "expands",
)

NEWS_TEMPLATES = {
    "negative": (
        "{name} shares slide after {neg}",
        "{name} warns of {neg}",
        "Analysts cut {name} outlook amid {neg}",
        "{name} misses estimates as {neg} bites",
        "Rating agency signals downgrade risk for {name} on {neg}",
        "{name} delays quarterly filing, cites {neg}",
        "Lenders tighten terms for {name} after {neg}",
        "{name} stock plunge deepens on {neg}",
    ),
    "neutral": (
        "{name} to present at {event}",
        "{name} announces board appointment",
        "{name} schedules quarterly results call",
        "{name} completes previously announced {deal}",
        "{name} files routine {doc}",
        "{name} names new head of investor relations",
    ),
    "positive": (
        "{name} beats estimates on {pos}",
        "{name} raises full-year guidance after {pos}",
        "{name} wins major {sector} contract",
        "Analysts upgrade {name} citing {pos}",
        "{name} reports record {pos}",
        "{name} expands buyback on strong {pos}",
    ),
}
NEGATIVE_TOPICS = (
    "weak demand",
    "a liquidity squeeze",
    "rising defaults",
    "covenant pressure",
    "an accounting probe",
    "heavy losses",
    "a dividend cut",
    "refinancing risk",
)
POSITIVE_TOPICS = (
    "strong margins",
    "robust demand",
    "record cash flow",
    "growth in orders",
    "a debt reduction plan",
    "higher market share",
    "pricing power",
)
EVENTS = ("an industry conference", "an investor day", "a sector forum")
DEALS = ("asset swap", "office relocation", "systems migration")
DOCS = ("proxy statement", "registration update", "shareholder notice")

SOCIAL_TEMPLATES = {
    "negative": (
        "${tkr} getting crushed {neg}",
        "dumping my ${tkr} {neg}",
        "${tkr} bagholders {neg}",
        "this ${tkr} chart is bleeding {neg}",
        "scared of ${tkr} here {neg}",
    ),
    "neutral": (
        "anyone watching ${tkr} today",
        "${tkr} volume looks {vol}",
        "what is the play on ${tkr}",
        "${tkr} sideways again",
        "wild swings in ${tkr} {vol}",
    ),
    "positive": (
        "${tkr} to the moon {pos}",
        "loading up on ${tkr} {pos}",
        "${tkr} ripping {pos}",
        "${tkr} undervalued and bullish {pos}",
    ),
}
NEG_SLANG = ("smh", "rug incoming", "default vibes", "so many losses", "plunge mode", "")
POS_SLANG = ("lfg", "strong growth", "beats again", "record week", "🚀", "")
VOL_WORDS = ("weird", "huge", "thin", "heavy", "crazy")

NAME_HEADS = (
    "Alder",
    "Birch",
    "Cedar",
    "Delta",
    "Ember",
    "Fjord",
    "Granite",
    "Harbor",
    "Iris",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Maple",
    "Nimbus",
    "Onyx",
    "Pioneer",
    "Quartz",
    "Raven",
    "Summit",
    "Tidal",
    "Umber",
    "Vertex",
    "Willow",
    "Xenon",
    "Yarrow",
    "Zephyr",
)
NAME_TAILS = ("Holdings", "Industries", "Systems", "Group", "Partners", "Energy", "Labs", "Corp")

FUNDAMENTAL_FEATURES = (
    "leverage",
    "interest_coverage",
    "current_ratio",
    "roa",
    "revenue_growth",
    "cash_to_assets",
    "log_total_assets",
)
