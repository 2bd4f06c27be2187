"""The investigation tools. Each takes a JSON-able input and answers a JSON-able output (both go into the trace as
they are); each reads the deposits as of the investigated one's time, so an investigation repeated later finds the
same. The thresholds a tool judges by are in its output, so the trace shows what a finding was measured against."""

from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from statistics import median
from typing import Any

from server.plant.transactions import CHANNELS, DEPOSIT_LIMIT_MINOR
from server.storage.agent_investigations import InvestigationRepository
from server.storage.agent_transactions import TransactionRepository
from shared.agent import ToolName

Tool = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]

VELOCITY_WINDOW_SECONDS = 600
VELOCITY_BURST_COUNT = 4  # deposits by one customer within the window
SHARED_DEVICE_CUSTOMERS = 3  # customers on one device within a day
NEW_CHANNEL_DAYS = 7
UNDER_LIMIT_SHARE = 0.02  # "just under the limit": within 2 % below it


class ToolFailed(Exception):
    """A tool could not answer (the transaction vanished, a query failed)."""


def _minor(amount: Decimal) -> int:
    return int(amount * 100)


def _at(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


class Tools:
    """The tools by name; `registry` is what the engine calls (tests replace entries to slow one down)."""

    def __init__(self, transactions: TransactionRepository, investigations: InvestigationRepository) -> None:
        self._transactions = transactions
        self._investigations = investigations
        self.registry: dict[ToolName, Tool] = {
            "transaction_lookup": self.transaction_lookup,
            "customer_history": self.customer_history,
            "velocity_window": self.velocity_window,
            "geo_consistency": self.geo_consistency,
            "device_graph": self.device_graph,
            "channel_risk": self.channel_risk,
            "rule_matches": self.rule_matches,
            "similar_cases": self.similar_cases,
        }

    async def transaction_lookup(self, given: dict[str, Any]) -> dict[str, Any]:
        transaction = await self._transactions.get(str(given["transaction_id"]))
        if transaction is None:
            raise ToolFailed(f"transaction {given['transaction_id']} is not stored")
        found = transaction.model_dump(mode="json", exclude={"pattern", "suspicious"})  # the plant's labels stay out
        found["amount_minor"] = _minor(transaction.amount)
        return found

    async def customer_history(self, given: dict[str, Any]) -> dict[str, Any]:
        past = await self._transactions.history(str(given["customer_id"]), before=_at(given["before"]), limit=200)
        amounts = [_minor(t.amount) for t in past]
        typical = int(median(amounts)) if amounts else None
        amount = int(given["amount_minor"])
        return {
            "deposits": len(past),
            "median_amount_minor": typical,
            "amount_ratio": round(amount / typical, 2) if typical else None,
            "ip_countries": sorted(Counter(t.ip_country for t in past)),
            "card_countries": sorted({t.card_country for t in past}),
            "channels": sorted({t.channel for t in past}),
            "devices": sorted({t.device_id for t in past})[:20],
            "near_limit_deposits": sum(
                1 for a in amounts if DEPOSIT_LIMIT_MINOR * (1 - UNDER_LIMIT_SHARE) <= a < DEPOSIT_LIMIT_MINOR
            ),
        }

    async def velocity_window(self, given: dict[str, Any]) -> dict[str, Any]:
        until = _at(given["at"])
        seconds = int(given.get("window_seconds", VELOCITY_WINDOW_SECONDS))
        window = await self._transactions.window(
            "customer_id", str(given["customer_id"]), since=until - timedelta(seconds=seconds), until=until
        )
        return {
            "window_seconds": seconds,
            "deposits": window.count,
            "total_minor": window.total_minor,
            "burst_threshold": VELOCITY_BURST_COUNT,
            "burst": window.count >= VELOCITY_BURST_COUNT,
        }

    async def geo_consistency(self, given: dict[str, Any]) -> dict[str, Any]:
        ip, card = str(given["ip_country"]), str(given["card_country"])
        seen = [str(c) for c in given.get("known_ip_countries", [])]
        return {
            "ip_country": ip,
            "card_country": card,
            "mismatch": ip != card,
            "ip_country_seen_before": ip in seen,
            "known_ip_countries": seen,
        }

    async def device_graph(self, given: dict[str, Any]) -> dict[str, Any]:
        until = _at(given["at"])
        customers = await self._transactions.device_customers(
            str(given["device_id"]), since=until - timedelta(days=1), until=until
        )
        return {
            "device_id": given["device_id"],
            "customers_24h": len(customers),
            "customer_ids": customers[:10],
            "shared_threshold": SHARED_DEVICE_CUSTOMERS,
            "shared": len(customers) >= SHARED_DEVICE_CUSTOMERS,
        }

    async def channel_risk(self, given: dict[str, Any]) -> dict[str, Any]:
        channel, at = str(given["channel"]), _at(given["at"])
        first_seen = await self._transactions.channel_first_seen(channel)
        age_days = (at - first_seen).total_seconds() / 86400 if first_seen is not None else 0.0
        volume = await self._transactions.window("channel", channel, since=at - timedelta(days=1), until=at)
        usual = channel in CHANNELS
        return {
            "channel": channel,
            "usual_channel": usual,
            "first_seen": first_seen.isoformat() if first_seen else None,
            "age_days": round(max(age_days, 0.0), 2),
            "deposits_24h": volume.count,
            "new_channel_days": NEW_CHANNEL_DAYS,
            "high_risk": not usual and age_days < NEW_CHANNEL_DAYS,
        }

    async def rule_matches(self, given: dict[str, Any]) -> dict[str, Any]:
        amount = int(given["amount_minor"])
        floor = int(DEPOSIT_LIMIT_MINOR * (1 - UNDER_LIMIT_SHARE))
        matched = []
        if floor <= amount < DEPOSIT_LIMIT_MINOR:
            matched.append("amount_just_under_limit")
        if amount >= DEPOSIT_LIMIT_MINOR:
            matched.append("amount_over_limit")
        return {"limit_minor": DEPOSIT_LIMIT_MINOR, "under_limit_floor_minor": floor, "matched": matched}

    async def similar_cases(self, given: dict[str, Any]) -> dict[str, Any]:
        kinds = [str(k) for k in given.get("kinds", [])]
        cases = await self._investigations.similar_cases(
            kinds, exclude_transaction=str(given["transaction_id"]), limit=10
        )
        return {"kinds": kinds, "cases": cases, "count": len(cases)}
