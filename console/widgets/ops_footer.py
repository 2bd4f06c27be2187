"""OpsFooter: the compact Footer, made to fit. When the keys with their full labels do not fit the width, the labels
shrink (first word only, then key alone, screen keys first) so every key stays visible and nothing is cut mid-word;
the palette key keeps its place at the right."""

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

# Cells the palette key takes at the right: a border, the key, a space and "palette" unless narrow.
_PALETTE_KEY = 4


class OpsFooter(Footer):
    def __init__(self) -> None:
        super().__init__(compact=True)
        self._fitted_width = 0

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        active = self.screen.active_bindings
        shown = _unique_by_action((b.binding, b.enabled, b.tooltip) for b in active.values() if b.binding.show)
        palette = active.get(self.app.COMMAND_PALETTE_BINDING) if self.show_command_palette else None
        width = self.size.width or self.app.size.width
        self._fitted_width = width
        keys = [(self.app.get_key_display(binding), binding.description, _drop_rank(binding)) for binding, *_ in shown]
        palette_label = palette.binding.description if palette is not None else ""
        palette_width = _PALETTE_KEY + len(palette_label) + 1 if palette is not None else 0
        labels = fit_labels(keys, width - palette_width)
        if palette is not None and labels != [description for _, description, _ in keys]:
            palette_label = ""  # every cell counts: the key alone says it
            labels = fit_labels(keys, width - _PALETTE_KEY)
        for (binding, enabled, tooltip), label in zip(shown, labels, strict=True):
            yield FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                label,
                binding.action,
                disabled=not enabled,
                tooltip=tooltip or binding.description,
            ).data_bind(compact=Footer.compact)
        if palette is not None:
            binding = palette.binding
            yield FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                palette_label,
                binding.action,
                classes="-command-palette",
                disabled=not palette.enabled,
                tooltip=binding.tooltip or binding.description,
            ).data_bind(compact=Footer.compact)

    def on_resize(self) -> None:
        if self.size.width != self._fitted_width:
            self.call_after_refresh(self.recompose)


def _drop_rank(binding: Binding) -> int:
    """Whose label goes first when the footer is narrow: the screen keys' (numbers, listed in help), then the
    app's own (help, quit), then the screen's actions."""
    if (binding.id or "").startswith("screen."):
        return 0
    if binding.id in {"help", "quit", "reconnect"}:
        return 1
    return 2


def _unique_by_action(items: Iterable[tuple[Binding, bool, str]]) -> list[tuple[Binding, bool, str]]:
    """One footer entry per action (n and escape both cancel: show the first)."""
    seen: set[str] = set()
    unique = []
    for item in items:
        if item[0].action not in seen:
            seen.add(item[0].action)
            unique.append(item)
    return unique


def fit_labels(keys: list[tuple[str, str, int]], budget: int) -> list[str]:
    """Labels for (key display, description, drop rank) that fit `budget` cells: the full descriptions if they
    fit; else their first words; else labels are dropped, lowest rank first (screen keys, then the app's keys,
    then the screen's own from the last), until the keys fit. Keys themselves are never dropped."""
    labels = [description for _, description, _ in keys]

    def width() -> int:
        pairs = zip(keys, labels, strict=True)
        return sum(len(key) + (len(label) + 1 if label else 0) + 1 for (key, _, _), label in pairs)

    if width() <= budget:
        return labels
    labels = [description.split(" ", 1)[0] for description in labels]
    order = sorted(range(len(keys)), key=lambda index: (keys[index][2], -index))
    for index in order:
        if width() <= budget:
            break
        labels[index] = ""
    return labels
