"""Tiny hand-made raw tables, valid as they stand; tests break them on purpose.

Also a small synthetic feature table with a known signal, and training parameters
small enough to fit on it in a blink.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from src.core.params import TrainParams
from src.stages.featurize import FEATURE_GROUPS


def flights() -> pd.DataFrame:
    """Six flights on 2013-07-01..03: on time, late, cancelled, diverted, unknown plane, no weather."""
    return pd.DataFrame(
        {
            "year": [2013] * 6,
            "month": [7] * 6,
            "day": [1, 1, 2, 2, 3, 3],
            "dep_time": [900.0, 1000.0, None, 1105.0, 1200.0, 1300.0],
            "sched_dep_time": [900, 955, 1000, 1100, 1159, 1300],
            "dep_delay": [0.0, 5.0, None, 5.0, 1.0, 0.0],
            "arr_time": [1200.0, 1320.0, None, None, 1500.0, 1600.0],
            "sched_arr_time": [1200, 1300, 1300, 1400, 1500, 1600],
            "arr_delay": [0.0, 20.0, None, None, 0.0, 14.0],
            "carrier": ["UA", "AA", "UA", "AA", "UA", "AA"],
            "flight": [1, 2, 3, 4, 5, 6],
            "tailnum": ["N1", "N2", "N1", "N2", "N999", None],
            "origin": ["EWR", "JFK", "EWR", "JFK", "EWR", "JFK"],
            "dest": ["ORD", "LAX", "ORD", "LAX", "ORD", "SJU"],
            "air_time": [120.0, 300.0, None, None, 120.0, 200.0],
            "distance": [719.0, 2475.0, 719.0, 2475.0, 719.0, 1598.0],
            "hour": [9, 9, 10, 11, 11, 13],
            "minute": [0, 55, 0, 0, 59, 0],
            "time_hour": [
                "2013-07-01T13:00:00Z",
                "2013-07-01T13:00:00Z",
                "2013-07-02T14:00:00Z",
                "2013-07-02T15:00:00Z",
                "2013-07-03T15:00:00Z",
                "2013-07-03T17:00:00Z",
            ],
        }
    )


def weather() -> pd.DataFrame:
    """Observations for every flight's origin and hour but the last flight's."""
    hours = [
        ("EWR", "2013-07-01T13:00:00Z"),
        ("JFK", "2013-07-01T13:00:00Z"),
        ("EWR", "2013-07-02T14:00:00Z"),
        ("JFK", "2013-07-02T15:00:00Z"),
        ("EWR", "2013-07-03T15:00:00Z"),
    ]
    frame = pd.DataFrame(hours, columns=["origin", "time_hour"])
    stamp = pd.to_datetime(frame["time_hour"])
    return frame.assign(
        year=2013,
        month=7,
        day=stamp.dt.day,
        hour=stamp.dt.hour - 4,
        temp=[80.0, 81.0, 70.0, 72.0, 75.0],
        dewp=60.0,
        humid=50.0,
        wind_dir=180.0,
        wind_speed=[5.0, 6.0, 20.0, 7.0, 8.0],
        wind_gust=None,
        precip=[0.0, 0.0, 0.5, 0.0, 0.0],
        pressure=1015.0,
        visib=[10.0, 10.0, 2.0, 10.0, 10.0],
    )[
        [
            "origin",
            "year",
            "month",
            "day",
            "hour",
            "temp",
            "dewp",
            "humid",
            "wind_dir",
            "wind_speed",
            "wind_gust",
            "precip",
            "pressure",
            "visib",
            "time_hour",
        ]
    ]


def planes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tailnum": ["N1", "N2"],
            "year": [2003.0, None],
            "type": ["Fixed wing multi engine"] * 2,
            "manufacturer": ["BOEING", "AIRBUS"],
            "model": ["737", "A320"],
            "engines": [2, 2],
            "seats": [150, 180],
            "speed": [None, None],
            "engine": ["Turbo-fan", "Turbo-jet"],
        }
    )


def airports() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "faa": ["EWR", "JFK", "ORD", "LAX"],
            "name": ["Newark", "JFK", "O'Hare", "LAX"],
            "lat": [40.69, 40.64, 41.98, 33.94],
            "lon": [-74.17, -73.78, -87.90, -118.41],
            "alt": [18, 13, 668, 126],
            "tz": [-5, -5, -6, -8],
            "dst": ["A"] * 4,
            "tzone": ["America/New_York", "America/New_York", "America/Chicago", "America/Los_Angeles"],
        }
    )


def airlines() -> pd.DataFrame:
    return pd.DataFrame({"carrier": ["UA", "AA"], "name": ["United", "American"]})


def raw_tables() -> dict[str, pd.DataFrame]:
    return {
        "flights": flights(),
        "weather": weather(),
        "planes": planes(),
        "airports": airports(),
        "airlines": airlines(),
    }


def feature_table() -> pd.DataFrame:
    """400 synthetic flights where late flights leave in the evening and when it rains."""
    rng = np.random.default_rng(0)
    n = 400
    columns = {column: rng.uniform(0, 10, n) for group in FEATURE_GROUPS.values() for column in group}
    frame = pd.DataFrame(columns)
    frame["carrier"] = rng.choice(["UA", "AA", "DL"], n)
    frame["origin"] = rng.choice(["EWR", "JFK", "LGA"], n)
    frame["dest"] = rng.choice(["ORD", "LAX", "ATL", "SFO"], n)
    frame["engine"] = rng.choice(["Turbo-fan", "Turbo-jet", None], n)
    frame["sched_dep_hour"] = rng.integers(5, 23, n)
    frame["precip"] = rng.exponential(0.2, n)
    risk = 0.2 * (frame["sched_dep_hour"] - 14) + 4 * frame["precip"]
    frame["is_late"] = (risk + rng.normal(0, 1, n) > 0.5).astype("int8")
    return frame


def small_params(model: str, **extra) -> TrainParams:
    """Training parameters for ``feature_table``: few, small trees."""
    return TrainParams.model_validate(
        {
            "model": model,
            "seed": 7,
            "hist_gradient_boosting": {"max_iter": 15, "min_samples_leaf": 5},
            **extra,
        }
    )
