"""Stage ``featurize``: one row per flight, with what is known when it is scheduled.

Allowed: the schedule (date, times, carrier, route, distance), the plane assigned to
the flight, the weather observed at the origin airport at the scheduled hour, and
how busy the origin is that hour according to the schedule. Never used as features:
actual departure or arrival times, delays, air time. They only make the label.

Label ``is_late``: arrival delay of ``featurize.delay_threshold_minutes`` (15) or more.
Cancelled flights (no departure time) and diverted ones (departed, no arrival delay)
count as late when ``featurize.cancelled_as_late`` is true, and are dropped otherwise.
"""

from __future__ import annotations

import argparse
import functools
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.tseries.holiday import USFederalHolidayCalendar

from src.core.files import atomic_path
from src.core.params import FeaturizeParams, load_params
from src.core.stage import run_stage
from src.core.tables import write_parquet

log = logging.getLogger("pipeline")

#: Feature columns by group; ``train.feature_groups`` picks the groups a model sees.
FEATURE_GROUPS: dict[str, list[str]] = {
    "calendar": ["month", "day_of_week", "days_to_holiday"],
    "schedule": ["sched_dep_hour", "sched_dep_minute_of_day", "sched_arr_hour", "origin_hour_departures"],
    "route": ["carrier", "origin", "dest", "distance"],
    "plane": ["plane_age", "seats", "engines", "engine", "plane_known"],
    "weather": [
        "temp",
        "dewp",
        "humid",
        "wind_dir",
        "wind_speed",
        "wind_gust",
        "precip",
        "pressure",
        "visib",
        "weather_known",
    ],
}
CATEGORICAL_FEATURES = frozenset({"carrier", "origin", "dest", "engine"})

#: Columns of the flights table that describe what happened after departure.
POST_DEPARTURE_COLUMNS = ("dep_time", "dep_delay", "arr_time", "arr_delay", "air_time")

WEATHER_COLUMNS = FEATURE_GROUPS["weather"][:-1]
HOLIDAY_HORIZON_DAYS = 14


def scheduled_date(flights: pd.DataFrame) -> pd.Series:
    """The local calendar date of scheduled departure."""
    parts = flights[["year", "month", "day"]].astype("int64")
    return pd.to_datetime(parts).rename("date")


def delay_label(flights: pd.DataFrame, params: FeaturizeParams) -> pd.Series:
    """1 for late (or cancelled/diverted, if they count as late), 0 otherwise, NA to drop."""
    late = flights["arr_delay"] >= params.delay_threshold_minutes
    no_arrival = flights["arr_delay"].isna()  # cancelled or diverted
    label = late.astype("Int8")
    label[no_arrival] = 1 if params.cancelled_as_late else pd.NA
    return label.rename("is_late")


@functools.lru_cache(maxsize=16)
def federal_holidays(first_year: int, last_year: int) -> np.ndarray:
    """US federal holidays of whole years, as sorted day numbers (days since 1970-01-01).

    Cached: building the calendar takes tens of milliseconds, which a one-flight HTTP
    request would otherwise pay every time.
    """
    holidays = USFederalHolidayCalendar().holidays(f"{first_year}-01-01", f"{last_year}-12-31")
    numbers = np.sort(holidays.to_numpy().astype("datetime64[D]").astype("int64"))
    numbers.setflags(write=False)  # shared by every caller
    return numbers


def calendar_features(dates: pd.Series) -> pd.DataFrame:
    """Month, day of week and distance in days to the nearest US federal holiday."""
    margin = pd.Timedelta(days=HOLIDAY_HORIZON_DAYS * 4)
    # Whole years around the dates: a holiday beyond the margin is farther than the horizon
    # from every date, so the distances (capped at the horizon) are those of the margin alone.
    holiday_numbers = (
        federal_holidays((dates.min() - margin).year, (dates.max() + margin).year)
        if len(dates)
        else np.array([], dtype="int64")
    )
    if len(holiday_numbers):
        day_numbers = dates.to_numpy().astype("datetime64[D]").astype("int64")
        position = np.searchsorted(holiday_numbers, day_numbers).clip(1, len(holiday_numbers) - 1)
        nearest = np.minimum(
            np.abs(day_numbers - holiday_numbers[position - 1]),
            np.abs(day_numbers - holiday_numbers[position]),
        )
    else:
        nearest = np.full(len(dates), HOLIDAY_HORIZON_DAYS)
    return pd.DataFrame(
        {
            "month": dates.dt.month.astype("int8"),
            "day_of_week": dates.dt.day_of_week.astype("int8"),
            "days_to_holiday": np.minimum(nearest, HOLIDAY_HORIZON_DAYS).astype("int8"),
        },
        index=dates.index,
    )


def schedule_features(flights: pd.DataFrame) -> pd.DataFrame:
    """Scheduled times, and how many departures the origin has scheduled that hour."""
    dep = flights["sched_dep_time"].astype("int64")
    departures = flights.groupby(["origin", "time_hour"], sort=False)["origin"].transform("size")
    return pd.DataFrame(
        {
            "sched_dep_hour": (dep // 100).astype("int8"),
            "sched_dep_minute_of_day": ((dep // 100) * 60 + dep % 100).astype("int16"),
            "sched_arr_hour": (flights["sched_arr_time"].astype("int64") // 100 % 24).astype("int8"),
            "origin_hour_departures": departures.astype("int32"),
        },
        index=flights.index,
    )


def route_features(flights: pd.DataFrame) -> pd.DataFrame:
    """Carrier, airports and distance as scheduled."""
    return flights[["carrier", "origin", "dest", "distance"]].copy()


def plane_features(flights: pd.DataFrame, planes: pd.DataFrame) -> pd.DataFrame:
    """Attributes of the scheduled plane; missing where the tail number has no record."""
    wanted = planes[["tailnum", "year", "seats", "engines", "engine"]].rename(columns={"year": "built"})
    joined = flights[["tailnum", "year"]].merge(wanted, on="tailnum", how="left", validate="many_to_one")
    joined.index = flights.index
    return pd.DataFrame(
        {
            "plane_age": joined["year"] - joined["built"],
            "seats": joined["seats"],
            "engines": joined["engines"],
            "engine": joined["engine"],
            "plane_known": flights["tailnum"].isin(planes["tailnum"]).astype("int8"),
        },
        index=flights.index,
    )


def weather_features(flights: pd.DataFrame, weather: pd.DataFrame) -> pd.DataFrame:
    """Weather at the origin in the scheduled hour; missing where none was observed."""
    observed = weather[["origin", "time_hour", *WEATHER_COLUMNS]]
    joined = flights[["origin", "time_hour"]].merge(
        observed, on=["origin", "time_hour"], how="left", validate="many_to_one", indicator=True
    )
    joined.index = flights.index
    features = joined[WEATHER_COLUMNS].copy()
    features["weather_known"] = (joined["_merge"] == "both").astype("int8")
    return features


def build_features(tables: dict[str, pd.DataFrame], params: FeaturizeParams) -> pd.DataFrame:
    """Features, label and bookkeeping columns (flight_id, date) for every labelled flight."""
    flights = tables["flights"].reset_index(drop=True)
    dates = scheduled_date(flights)
    frame = pd.concat(
        [
            pd.Series(flights.index, name="flight_id", dtype="int64"),
            dates,
            calendar_features(dates),
            schedule_features(flights),
            route_features(flights),
            plane_features(flights, tables["planes"]),
            weather_features(flights, tables["weather"]),
            delay_label(flights, params),
        ],
        axis=1,
    )
    frame = frame[frame["is_late"].notna()].reset_index(drop=True)
    frame["is_late"] = frame["is_late"].astype("int8")
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.stages.featurize",
        description="Build schedule-time features and the is_late label from the typed tables.",
    )
    parser.add_argument("typed_dir", type=Path, help="validated tables (data/interim)")
    parser.add_argument("out", type=Path, help="feature table (data/features/flights.parquet)")
    args = parser.parse_args()

    params = load_params()
    tables = {
        name: pd.read_parquet(args.typed_dir / f"{name}.parquet") for name in ("flights", "planes", "weather")
    }
    features = build_features(tables, params.featurize)
    log.info(
        "%d flights, %d features, %.1f%% late",
        len(features),
        sum(len(columns) for columns in FEATURE_GROUPS.values()),
        100 * features["is_late"].mean(),
    )
    with atomic_path(args.out) as staged:
        write_parquet(features, staged)


if __name__ == "__main__":
    run_stage("featurize", main)
