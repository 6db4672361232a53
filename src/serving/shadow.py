"""How a second model version's scores differ from the first's on the same flights (shadow mode).

Before promoting a version, score tomorrow's schedule with it beside the one in
production: how many flags would change, whether it orders flights the same way, and
how far its probabilities move. Each version flags at its own threshold (the
``evaluate.threshold`` its lock records).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

SHIFT_QUANTILES = (0.05, 0.5, 0.95)


def compare_scores(
    primary: np.ndarray, shadow: np.ndarray, primary_threshold: float, shadow_threshold: float
) -> dict[str, object]:
    """Flag changes, rank correlation and score shift (shadow minus primary) over the same flights."""
    primary, shadow = np.asarray(primary, dtype=float), np.asarray(shadow, dtype=float)
    flights = len(primary)
    if flights == 0:
        return {"flights": 0}
    flagged, shadow_flagged = primary >= primary_threshold, shadow >= shadow_threshold
    shift = shadow - primary
    # Spearman is undefined when either side is constant: report that rather than NaN.
    constant = np.ptp(primary) == 0 or np.ptp(shadow) == 0
    correlation = None if constant else round(float(spearmanr(primary, shadow).statistic), 6)
    return {
        "flights": flights,
        "flagged_share": {
            "primary": round(float(flagged.mean()), 6),
            "shadow": round(float(shadow_flagged.mean()), 6),
        },
        "flag_changes": {
            "share": round(float((flagged != shadow_flagged).mean()), 6),
            "newly_flagged": int((~flagged & shadow_flagged).sum()),
            "no_longer_flagged": int((flagged & ~shadow_flagged).sum()),
        },
        "rank_correlation": correlation,
        "score_shift": {
            "mean": round(float(shift.mean()), 6),
            "mean_absolute": round(float(np.abs(shift).mean()), 6),
            **{
                f"p{round(q * 100):02d}": round(float(v), 6)
                for q, v in zip(SHIFT_QUANTILES, np.quantile(shift, SHIFT_QUANTILES), strict=True)
            },
        },
    }


def describe(summary: dict, primary: str, shadow: str) -> str:
    """The comparison in one line."""
    if not summary.get("flights"):
        return f"shadow {shadow} vs {primary}: no flight scored, nothing to compare"
    changes, shift = summary["flag_changes"], summary["score_shift"]
    correlation = summary["rank_correlation"]
    shown = "undefined (constant scores)" if correlation is None else f"{correlation:.4f}"
    return (
        f"shadow {shadow} vs {primary}: {changes['share']:.2%} of flags change "
        f"(+{changes['newly_flagged']:,} / -{changes['no_longer_flagged']:,}), rank correlation {shown}, "
        f"score shift {shift['mean']:+.4f} on average ({shift['p05']:+.4f} to {shift['p95']:+.4f}, 5th-95th percentile)"
    )
