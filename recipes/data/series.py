"""Named time series: a noisy sine generated from a seed, and the yearly sunspot numbers that ship
inside statsmodels. Each is a ``Series``: values (time, features), the time of each step and what
that time is called."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recipes.errors import ConfigError, DatasetNotFoundError, UnknownNameError

SINE_DEFAULTS = {"length": 1200, "period": 24, "noise": 0.1}


@dataclass(frozen=True)
class Series:
    values: np.ndarray  # (time, features) float32
    times: np.ndarray  # (time,)
    time_label: str  # what a step is, for plots: "step", "year"
    source: str


def sine_series(length: int = 1200, period: float = 24, noise: float = 0.1, seed: int = 0) -> np.ndarray:
    """``sin(2 pi t / period)`` plus Gaussian noise of standard deviation ``noise``: (length, 1)."""
    steps = np.arange(length)
    clean = np.sin(2 * np.pi * steps / period)
    return (clean + np.random.default_rng(seed).normal(0.0, noise, length)).astype(np.float32)[:, None]


def sunspots_series() -> tuple[np.ndarray, np.ndarray]:
    """Yearly mean sunspot numbers 1700-2008 as (309, 1), and the years."""
    try:
        import statsmodels.api as sm
    except ImportError:
        raise DatasetNotFoundError(
            "the sunspots series ships inside statsmodels, which is not installed: "
            "`pip install 'keras-recipes[timeseries]'` (or `pip install statsmodels`)."
        ) from None
    table = sm.datasets.sunspots.load_pandas().data
    return table["SUNACTIVITY"].to_numpy(np.float32)[:, None], table["YEAR"].to_numpy().astype(int)


def _sine(seed: int, length: int | None = None, period: float | None = None, noise: float | None = None) -> Series:
    given = {"length": length, "period": period, "noise": noise}
    settings = {key: SINE_DEFAULTS[key] if value is None else value for key, value in given.items()}
    source = "generated ({length} steps of a sine with period {period} and noise {noise})".format(**settings)
    return Series(sine_series(**settings, seed=seed), np.arange(settings["length"]), "step", source)


def _sunspots(seed: int, **shape) -> Series:
    given = sorted(key for key, value in shape.items() if value is not None)
    if given:
        raise ConfigError(f"sunspots is a recorded series, which {' and '.join(given)} cannot shape (they apply to "
                          f"the generated sine only); remove them. Received: {', '.join(f'{k}={shape[k]!r}' for k in given)}")
    values, years = sunspots_series()
    return Series(values, years, "year", "statsmodels sunspots (yearly, 1700-2008)")


SERIES = {"sine": _sine, "sunspots": _sunspots}


def load_series(name: str, *, seed: int = 0, length: int | None = None, period: float | None = None,
                noise: float | None = None) -> Series:
    """A named series. ``length``, ``period`` and ``noise`` shape the generated sine (None: its
    defaults, ``SINE_DEFAULTS``); a recorded series refuses them."""
    if name not in SERIES:
        raise UnknownNameError(f"unknown series {name!r}; the forecast task knows {', '.join(SERIES)}")
    return SERIES[name](seed, length=length, period=period, noise=noise)
