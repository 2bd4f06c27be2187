"""AgentCard: one governed agent on the Refunds screen's live board — its state, last action and last decision,
as the public board reports them. It redraws only when what it shows changed."""

from rich.text import Text
from textual.widgets import Static

from shared.live import AgentName, PublicAgentStatus

STATE_COLOURS = {"active": "success", "idle": "warning", "degraded": "error"}
DECISION_COLOURS = {"ALLOW": "success", "DENY": "error", "REQUIRE_APPROVAL": "warning"}


def render_card(status: PublicAgentStatus | None, colours: dict[str, str]) -> Text:
    """The card's body; `colours` the theme's variables (a card is drawn by the theme, not by fixed colours)."""
    if status is None:
        return Text("waiting for the board…", style="dim")
    state_colour = colours.get(STATE_COLOURS[status.status], "")
    decision_colour = colours.get(DECISION_COLOURS.get(status.last_decision or "", ""), "")
    return Text.assemble(
        ("● ", state_colour),
        (status.status, f"bold {state_colour}".strip()),
        "\n",
        ("Last action\n", "dim"),
        "  ",
        status.last_action or "none yet",
        "\n",
        ("Last decision\n", "dim"),
        "  ",
        (status.last_decision or "none yet", f"bold {decision_colour}".strip()),
    )


class AgentCard(Static):
    def __init__(self, agent: AgentName, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="agent-card", markup=False)
        self.agent = agent
        self.border_title = agent
        self.status: PublicAgentStatus | None = None
        self.redraws = 0
        """How often the card was redrawn (tests read it: an unchanged board must not redraw)."""

    def on_mount(self) -> None:
        self.update(render_card(None, {}))

    def show(self, status: PublicAgentStatus | None) -> bool:
        """Show `status`; False (and nothing redrawn) when it is what the card already shows."""
        if status is not None and status == self.status:
            return False
        self.status = status
        self.update(render_card(status, self.app.theme_variables))
        for state in STATE_COLOURS:
            self.set_class(status is not None and status.status == state, f"-{state}")
        self.redraws += 1
        return True
