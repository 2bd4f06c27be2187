"""The venue's card deposits into its clients' trading accounts: a seeded stream of ordinary deposits with a
realistic share of suspicious patterns planted among them (velocity bursts, a card from one country used from
another, one device across many customers, a new high-risk channel, amounts just under the deposit limit).

The stream only makes deposits; storing them is the agent family's (server/storage/agent_transactions.py)."""

import random
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

# The single-deposit limit an "amount just under a limit" pattern stays below (minor units: 10,000.00).
DEPOSIT_LIMIT_MINOR = 1_000_000
CHANNELS = ("card_web", "card_mobile", "card_partner")  # the usual channels
HIGH_RISK_CHANNELS = ("crypto_voucher", "prepaid_gateway")  # new, high-risk: appear only in planted patterns
_COUNTRIES = {
    "GB": "GBP", "DE": "EUR", "FR": "EUR", "ES": "EUR", "IT": "EUR", "NL": "EUR",
    "PL": "PLN", "SE": "SEK", "AE": "AED", "SG": "SGD", "ZA": "ZAR", "AU": "AUD",
}  # fmt: skip
_FAR_COUNTRIES = ("NG", "RU", "BR", "VN", "KZ", "UA")  # IP countries of a mismatch
_MERCHANTS = {
    "card_web": "venue-web",
    "card_mobile": "venue-app",
    "card_partner": "introducer-pay",
    "crypto_voucher": "vouchr-x",
    "prepaid_gateway": "prepaid-hub",
}
PATTERNS = ("velocity_burst", "country_mismatch", "shared_device", "high_risk_channel", "amount_under_limit")
SUSPICIOUS_SHARE = 0.12  # of ticks that plant a pattern


@dataclass(frozen=True, slots=True)
class Deposit:
    transaction_id: str
    occurred_at: datetime
    amount_minor: int
    currency: str
    merchant: str
    channel: str
    customer_id: str
    device_id: str
    ip_country: str
    card_country: str
    pattern: str | None = None  # the planted pattern; None for an ordinary deposit

    @property
    def suspicious(self) -> bool:
        return self.pattern is not None


@dataclass(frozen=True, slots=True)
class _Customer:
    customer_id: str
    country: str
    device_id: str
    channel: str
    typical_minor: int  # the size of this client's usual deposit


class DepositStream:
    """Deposits made from `rng` alone: the same seed gives the same deposits at the same times."""

    def __init__(self, rng: random.Random, *, customers: int = 80) -> None:
        self._rng = rng
        countries = list(_COUNTRIES)
        self._customers = [
            _Customer(
                customer_id=f"cust-{n:04d}",
                country=rng.choice(countries),
                device_id=f"dev-{rng.getrandbits(32):08x}",
                channel=rng.choices(CHANNELS, weights=(5, 4, 1))[0],
                typical_minor=rng.choice((5_000, 10_000, 25_000, 50_000, 100_000, 250_000)),
            )
            for n in range(customers)
        ]

    def backfill(self, now: datetime, hours: float = 24.0, count: int = 240) -> list[Deposit]:
        """A day of history up to `now`, so that the first investigations have a baseline to compare with."""
        deposits: list[Deposit] = []
        span = hours * 3600
        for n in range(count):
            at = now - timedelta(seconds=span * (count - n) / count)
            deposits.extend(self.tick(at))
        return deposits

    def tick(self, now: datetime) -> list[Deposit]:
        """The deposits of one tick of the plant: usually one ordinary deposit; now and then a planted pattern."""
        if self._rng.random() < SUSPICIOUS_SHARE:
            pattern = self._rng.choice(PATTERNS)
            return getattr(self, f"_{pattern}")(now)
        return [self._ordinary(self._rng.choice(self._customers), now)]

    # --- the deposits ---

    def _id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _amount(self, customer: _Customer) -> int:
        # About the client's usual size, rounded to whole units as people deposit.
        return max(1_000, int(round(customer.typical_minor * self._rng.uniform(0.5, 1.6), -2)))

    def _deposit(
        self, customer: _Customer, at: datetime, pattern: str | None = None, *, channel: str | None = None,
        **changes: Any,
    ) -> Deposit:  # fmt: skip
        channel = channel or customer.channel
        made = Deposit(
            transaction_id=self._id(),
            occurred_at=at,
            amount_minor=self._amount(customer),
            currency=_COUNTRIES[customer.country],
            merchant=_MERCHANTS[channel],
            channel=channel,
            customer_id=customer.customer_id,
            device_id=customer.device_id,
            ip_country=customer.country,
            card_country=customer.country,
            pattern=pattern,
        )
        return replace(made, **changes) if changes else made

    def _ordinary(self, customer: _Customer, at: datetime) -> Deposit:
        return self._deposit(customer, at)

    def _velocity_burst(self, now: datetime) -> list[Deposit]:
        customer = self._rng.choice(self._customers)
        count = self._rng.randint(5, 8)
        return [
            self._deposit(customer, now - timedelta(seconds=(count - n) * self._rng.uniform(4, 20)), "velocity_burst")
            for n in range(count)
        ]

    def _country_mismatch(self, now: datetime) -> list[Deposit]:
        customer = self._rng.choice(self._customers)
        return [self._deposit(customer, now, "country_mismatch", ip_country=self._rng.choice(_FAR_COUNTRIES))]

    def _shared_device(self, now: datetime) -> list[Deposit]:
        device = f"dev-{self._rng.getrandbits(32):08x}"
        customers = self._rng.sample(self._customers, self._rng.randint(4, 6))
        return [
            self._deposit(c, now - timedelta(minutes=(len(customers) - n) * self._rng.uniform(1, 6)), "shared_device",
                          device_id=device)
            for n, c in enumerate(customers)
        ]  # fmt: skip

    def _high_risk_channel(self, now: datetime) -> list[Deposit]:
        customer = self._rng.choice(self._customers)
        return [self._deposit(customer, now, "high_risk_channel", channel=self._rng.choice(HIGH_RISK_CHANNELS))]

    def _amount_under_limit(self, now: datetime) -> list[Deposit]:
        customer = self._rng.choice(self._customers)
        return [
            self._deposit(
                customer,
                now - timedelta(minutes=n * self._rng.uniform(5, 30)),
                "amount_under_limit",
                amount_minor=DEPOSIT_LIMIT_MINOR - self._rng.randint(1, 150) * 100,
            )
            for n in range(self._rng.randint(1, 3))
        ]
