"""Plant: the simulated system an operator drives. Components with dependencies, a mode, open positions that
move while the execution engine trades, and safety rules that refuse unsafe commands with a reason."""

import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from server.clock import Clock
from server.errors import Conflict, InvalidRequest
from server.plant.feed import MarketDataFeed
from shared.control import (
    Command,
    CommandParams,
    CommandResult,
    ComponentState,
    ComponentStatus,
    Mode,
    StatusSnapshot,
)

LIFECYCLE: tuple[Command, ...] = ("start", "stop", "restart")
MAX_POSITIONS = 12
SNAPSHOT_MAX_AGE_SECONDS = 1.0


class CommandRefused(Conflict):
    """The command exists for the component, but the plant's current state makes it unsafe."""

    code = "command_refused"


class CommandNotSupported(InvalidRequest):
    """The component has no safe method for this command at all."""

    code = "command_not_supported"


@dataclass
class Component:
    name: str
    depends_on: tuple[str, ...] = ()
    commands: tuple[Command, ...] = LIFECYCLE
    state: ComponentState = "running"
    since: datetime = field(default_factory=lambda: datetime.min)
    # Bumped on every state change; part of the fingerprint that confirm tokens are bound to.
    version: int = 0
    ready_at: datetime | None = None


def _default_components() -> list[Component]:
    return [
        Component("orchestrator", commands=(*LIFECYCLE, "dry-run-on", "dry-run-off")),
        Component("connector"),
        Component("database"),
        Component("execution_engine", depends_on=("connector", "database")),
        Component("position_manager", depends_on=("database",)),
        Component("mt5_bridge", depends_on=("connector",)),
    ]


class Plant:
    """The OpsController's system. Everything reads the clock it was given, so tests move time by hand."""

    def __init__(self, clock: Clock, *, seed: int = 7, restart_seconds: float = 2.0, open_positions: int = 3):
        self._clock = clock
        self._random = random.Random(seed)
        self._restart = timedelta(seconds=restart_seconds)
        now = clock.now()
        self._components = {c.name: c for c in _default_components()}
        for component in self._components.values():
            component.since = now
        self._mode: Mode = "live"
        self._open_positions = open_positions
        # Versions start again with every process: the epoch keeps a token issued before a restart from matching
        # a state it was never issued against.
        self._epoch = secrets.token_hex(4)
        # Bumped on every change of anything a snapshot shows.
        self._revision = 0
        self._snapshot: tuple[int, StatusSnapshot, float] | None = None  # (revision, snapshot, taken at)
        # Components in the middle of a restart: most reads have none to settle.
        self._restarting: set[str] = set()
        # The market-data feed behind the connector; its own generator, so reading it never moves the trading.
        self.feed = MarketDataFeed(self, clock, random.Random(f"feed:{seed}"))

    # --- reading ---

    @property
    def component_names(self) -> list[str]:
        return list(self._components)

    def commands_for(self, name: str) -> tuple[Command, ...]:
        return self._get(name).commands

    def snapshot(self) -> StatusSnapshot:
        """The plant as of now. Reads are far more frequent than changes, so a snapshot is reused while nothing
        changed, for at most SNAPSHOT_MAX_AGE_SECONDS (its `as_of` says when it was taken). Every status request
        asks, so the reuse check reads the clock as a plain timestamp, not a datetime."""
        if self._restarting:
            self._settle()
        taken = self._clock.timestamp()
        cached = self._snapshot
        if cached is not None and cached[0] == self._revision and taken - cached[2] < SNAPSHOT_MAX_AGE_SECONDS:
            return cached[1]
        snapshot = self._build_snapshot(self._clock.now())
        self._snapshot = (self._revision, snapshot, taken)
        return snapshot

    def _build_snapshot(self, now: datetime) -> StatusSnapshot:
        c = self._components
        position_manager_up = c["position_manager"].state == "running"
        mt5 = c["mt5_bridge"].state
        return StatusSnapshot(
            mode=self.mode,
            execution_engine=c["execution_engine"].state == "running",
            position_manager=position_manager_up,
            database=c["database"].state == "running",
            mt5_up=None if mt5 == "restarting" else mt5 == "running",
            # Only the position manager knows the positions: while it is down the count is unknown.
            open_positions=self._open_positions if position_manager_up else None,
            components=[
                ComponentStatus(name=x.name, state=x.state, since=x.since, commands=list(x.commands))
                for x in c.values()
            ],
            as_of=now,
        )

    @property
    def mode(self) -> Mode:
        return self._mode if self._components["orchestrator"].state == "running" else "unknown"

    def state_of(self, name: str) -> ComponentState:
        self._settle()
        return self._get(name).state

    def state_since(self, name: str) -> tuple[ComponentState, datetime]:
        """A component's state and since when it has been in it."""
        self._settle()
        component = self._get(name)
        return component.state, component.since

    def fingerprint(self, name: str) -> str:
        """What a confirm token is bound to: the component's state and version, and the plant's mode."""
        self._settle()
        component = self._get(name)
        return f"{self._epoch}:{component.state}#{component.version}|{self._mode}"

    # --- commanding ---

    def check(self, command: Command, name: str) -> None:
        """Raise CommandNotSupported or CommandRefused (with the reason) if `command` is not safe right now."""
        self._settle()
        component = self._get(name)
        if command not in component.commands:
            raise CommandNotSupported(
                f"{name} has no safe method for '{command}'; it supports: {', '.join(component.commands)}"
            )
        reason = self._refusal(command, component)
        if reason:
            raise CommandRefused(f"{command} {name} refused: {reason}")

    def execute(self, command: Command, name: str, params: CommandParams) -> CommandResult:
        self.check(command, name)
        component = self._get(name)
        now = self._clock.now()
        match command:
            case "start":
                self._set_state(component, "running", now)
                action = "started"
            case "stop":
                self._set_state(component, "stopped", now)
                action = "stopped"
            case "restart":
                self._set_state(component, "restarting", now)
                component.ready_at = now + self._restart
                action = "restarting"
            case "dry-run-on":
                self._mode = "dry-run"
                component.version += 1
                self._revision += 1
                action = "dry_run_enabled"
            case "dry-run-off":
                self._mode = "live"
                component.version += 1
                self._revision += 1
                action = "dry_run_disabled"
        return CommandResult(action=action, component=name, state=component.state, mode=self.mode)

    # --- simulation ---

    def tick(self) -> None:
        """Advance the simulation one step: finish restarts, move the feed, let the engine open and close positions."""
        self._settle()
        self.feed.tick()
        c = self._components
        trading = all(c[n].state == "running" for n in ("orchestrator", "execution_engine", "connector", "database"))
        if not trading:
            return
        if self._mode != "live":
            return  # dry-run sends no real orders: positions neither open nor close
        roll = self._random.random()
        if roll < 0.25 and self._open_positions < MAX_POSITIONS:
            self._open_positions += 1
            self._revision += 1
        elif roll > 0.75 and self._open_positions > 0:
            self._open_positions -= 1
            self._revision += 1

    def _settle(self) -> datetime:
        """Finish the restarts that are due. Returns the time it settled at."""
        now = self._clock.now()
        for name in list(self._restarting):
            component = self._components[name]
            if component.ready_at is not None and component.ready_at <= now:
                self._set_state(component, "running", component.ready_at)
        return now

    def _set_state(self, component: Component, state: ComponentState, at: datetime) -> None:
        component.state = state
        component.since = at
        component.version += 1
        self._revision += 1
        if state == "restarting":
            self._restarting.add(component.name)
        else:
            self._restarting.discard(component.name)
            component.ready_at = None

    def _get(self, name: str) -> Component:
        try:
            return self._components[name]
        except KeyError:
            raise InvalidRequest(
                f"unknown component '{name}'; known: {', '.join(self._components)}", code="unknown_component"
            ) from None

    def _refusal(self, command: Command, component: Component) -> str | None:
        c = self._components
        state = component.state
        if state == "restarting":
            return f"{component.name} is restarting; wait until it is running"
        down_deps = [d for d in component.depends_on if c[d].state != "running"]
        if command == "start" and state == "running":
            return f"{component.name} is already running"
        if command == "stop" and state == "stopped":
            return f"{component.name} is already stopped"
        if command in ("start", "restart") and down_deps:
            return f"{component.name} depends on {', '.join(down_deps)}, which is not running"
        if command in ("stop", "restart"):
            if component.name == "database" and self._mode == "live" and self._open_positions > 0:
                return (
                    f"the database cannot go down while live with {self._open_positions} open positions; "
                    "switch to dry-run first"
                )
            if component.name == "position_manager" and command == "stop" and self._open_positions > 0:
                return f"{self._open_positions} positions are open and need the position manager; close them first"
        if command in ("dry-run-on", "dry-run-off") and state != "running":
            return "the orchestrator is not running, so the mode cannot change"
        if command == "dry-run-on" and self._mode == "dry-run":
            return "already in dry-run"
        if command == "dry-run-off":
            if self._mode == "live":
                return "already live"
            needed = ("connector", "database", "execution_engine", "position_manager")
            missing = [n for n in needed if c[n].state != "running"]
            if missing:
                return f"going live needs {', '.join(missing)} running"
        return None
