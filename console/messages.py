"""App-wide messages, named for what happened. Widget-local messages nest in their widget."""

from dataclasses import dataclass

from textual.message import Message

from shared.control import CommandResult


@dataclass
class ConnectionLost(Message):
    """A request could not reach the server (or a gateway answered 502/503/504); the app starts reconnecting.
    Not for a 500: the server answered, and the screen shows its error in place."""

    reason: str


@dataclass
class ConnectionAlive(Message):
    """A screen's request was answered: the app's monitor need not ask the server itself for a while."""


@dataclass
class CommandExecuted(Message):
    """The server executed a confirmed command; `result` is what it reported."""

    result: CommandResult
