"""When a failed delivery is tried again: after the receiver's `Retry-After` when a 429 or 5xx gives one, else after
an exponential backoff with jitter (half the step fixed, half random), so receivers that failed together are not
hit again all at once."""

import random
from datetime import datetime
from email.utils import parsedate_to_datetime

MAX_RETRY_AFTER_SECONDS = 24 * 3600.0  # a receiver asking for more is tried again after a day


def backoff_seconds(failed_attempts: int, base: float, cap: float, rng: random.Random) -> float:
    """The wait after the `failed_attempts`-th failure (1, 2, ...): base, 2 base, 4 base, ... up to cap, each drawn
    between half of it and all of it."""
    step = min(cap, base * 2 ** (failed_attempts - 1))
    return step / 2 + rng.uniform(0, step / 2)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """`Retry-After` in seconds from `now`: delta-seconds or an HTTP date; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # an HTTP date is GMT
            return None
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)
