"""Playbook: the operator playbook (Markdown), split into sections by `## ` headings."""

import re
from dataclasses import dataclass
from pathlib import Path

from server.errors import NotFound

TOP = "top"


@dataclass(frozen=True)
class Section:
    title: str
    body: str


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


class Playbook:
    def __init__(self, text: str) -> None:
        self._sections: list[Section] = []
        title = TOP
        lines: list[str] = []
        for line in text.splitlines():
            if line.startswith("## "):
                self._sections.append(Section(title, "\n".join(lines).strip()))
                title, lines = line[3:].strip(), [line]
            else:
                lines.append(line)
        self._sections.append(Section(title, "\n".join(lines).strip()))

    @classmethod
    def load(cls, path: Path) -> "Playbook":
        return cls(path.read_text(encoding="utf-8"))

    @property
    def titles(self) -> list[str]:
        return [s.title for s in self._sections if s.title != TOP]

    def excerpt(self, name: str | None) -> Section:
        """The top excerpt without a name; otherwise the section whose title matches `name` (case, spaces,
        hyphens and underscores do not matter)."""
        if name is None or not name.strip():
            return self._sections[0]
        wanted = _slug(name)
        for section in self._sections:
            if _slug(section.title) == wanted:
                return section
        raise NotFound(
            {"message": f"no playbook section named '{name}'", "sections": self.titles},
            code="unknown_section",
        )
