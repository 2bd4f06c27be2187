"""One investigation's trace as a self-contained HTML page: the step timeline with durations, planner decisions,
tool inputs and outputs, the reasoner's prompts and answers, insights with their evidence, recommendations and the
rule draft. Steps collapse with <details> (no script at all), open by default so the page prints whole.

Every value is HTML-escaped where it is written (a deposit's merchant holding `<script>` stays text); the only
stylesheet carries the response's nonce, and the Content-Security-Policy allows nothing else."""

import html
import json
import secrets
from typing import Any

from shared.agent import InvestigationDetail, PlannerStep, ReasoningStep, Step, ToolStep, Transaction

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1rem;color:#1d232b;background:#fff}
h1{font-size:1.3rem;margin:.2rem 0}h2{font-size:1.05rem;margin:1.4rem 0 .4rem;border-bottom:1px solid #ccd}
.meta{color:#556;margin:.2rem 0 1rem}.badge{display:inline-block;padding:0 .45rem;border-radius:.6rem;
font-size:.8rem;border:1px solid #99a}.ok{background:#e6f4ea}.error,.failed{background:#fde8e8}
.running,.interrupted{background:#fff4d6}.completed{background:#e6f4ea}
details{border:1px solid #dde;border-radius:6px;margin:.35rem 0;padding:.3rem .6rem}
summary{cursor:pointer}summary .dur{float:right;color:#556}.kind{font-weight:600;text-transform:uppercase;
font-size:.75rem;margin-right:.4rem}.planner .kind{color:#5b3fa8}.tool .kind{color:#1b6e8f}
.reasoning .kind{color:#8f4b1b}pre{white-space:pre-wrap;word-break:break-word;background:#f6f7f9;
padding:.5rem;border-radius:4px;margin:.3rem 0;font-size:12.5px}table{border-collapse:collapse}
td,th{padding:.15rem .6rem;text-align:left;vertical-align:top;border-bottom:1px solid #eef}
.sev-critical{color:#a00;font-weight:700}.sev-high{color:#c0392b}.sev-medium{color:#b7791f}.sev-low{color:#4a5}
@media print{details{border:none;padding:0}summary{list-style:none}body{max-width:none}}
"""


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def content_security_policy(nonce: str) -> str:
    return (
        f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'none'; img-src 'none'; connect-src 'none'; "
        "font-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _json(value: Any) -> str:
    return f"<pre>{_e(json.dumps(value, indent=2, ensure_ascii=False, default=str))}</pre>"


def _step(step: Step) -> str:
    status = f'<span class="badge {_e(step.status)}">{_e(step.status)}</span>'
    head = (
        f'<summary><span class="kind">{_e(step.kind)}</span>#{step.step_no} {_e(step.name)} {status}'
        f'<span class="dur">{step.duration_ms:.1f} ms</span></summary>'
    )
    body: list[str] = [f"<div>started {_e(step.started_at.isoformat())}</div>"]
    if isinstance(step, PlannerStep):
        body.append(f"<p><b>decision:</b> {_e(step.decision)}<br><b>why:</b> {_e(step.why)}</p>")
        if step.alternatives:
            rows = "".join(f"<tr><td>{_e(a.name)}</td><td>{_e(a.why_not)}</td></tr>" for a in step.alternatives)
            body.append(f"<table><tr><th>alternative</th><th>why not now</th></tr>{rows}</table>")
    elif isinstance(step, ToolStep):
        body.append("<b>input</b>" + _json(step.input))
        if step.error is None:
            body.append("<b>output</b>" + _json(step.output))
        else:
            body.append(f"<b>error</b><pre>{_e(step.error)}</pre>")
    elif isinstance(step, ReasoningStep):
        body.append(
            f"<div>{_e(step.reasoner)} · model {_e(step.model)} · {step.prompt_tokens} prompt + "
            f"{step.completion_tokens} completion tokens · {step.latency_ms:.1f} ms · attempts {step.attempts}</div>"
        )
        body.append(f"<b>prompt</b><pre>{_e(step.prompt)}</pre>")
        if step.error is None:
            body.append(f"<b>response</b><pre>{_e(step.response)}</pre>")
        else:
            body.append(f"<b>error</b><pre>{_e(step.error)}</pre>")
    return f'<details open class="{_e(step.kind)}">{head}{"".join(body)}</details>'


def render_trace(detail: InvestigationDetail, transaction: Transaction | None, *, nonce: str) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Investigation {_e(detail.investigation_id)}</title>",
        f'<style nonce="{_e(nonce)}">{_CSS}</style></head><body>',
        f"<h1>Investigation {_e(detail.investigation_id)}</h1>",
        f'<div class="meta"><span class="badge {_e(detail.status)}">{_e(detail.status)}</span> · mode '
        f"{_e(detail.mode)} · transaction {_e(detail.transaction_id)} · started {_e(detail.started_at.isoformat())}"
        f" · duration {_e(f'{detail.duration_ms:.1f} ms' if detail.duration_ms is not None else '-')}"
        f" · by {_e(detail.requested_by)}<br>reasoning: {_e(detail.reasoner)} (model {_e(detail.model)})"
        f" · {detail.trace.steps} steps, {detail.trace.tool_calls} tool calls, {detail.trace.reasoning_calls}"
        f" reasoning calls · resumed {detail.resumed_count} time(s)</div>",
    ]
    if detail.error is not None:
        parts.append(f"<p><b>{_e(detail.error.code)}</b>: {_e(detail.error.message)}</p>")
    if detail.verdict is not None:
        parts.append(
            f"<h2>Assessment</h2><p><b>{_e(detail.verdict)}</b> (risk {_e(detail.risk_score)})</p>"
            f"<pre>{_e(detail.summary)}</pre>"
        )
    if transaction is not None:
        parts.append("<h2>Transaction</h2>" + _json(transaction.model_dump(mode="json")))
    parts.append("<h2>Steps</h2>")
    parts.extend(_step(step) for step in detail.steps)
    parts.append("<h2>Insights</h2>")
    if not detail.insights:
        parts.append("<p>none</p>")
    for insight in detail.insights:
        evidence = "".join(
            f"<li>step #{e.step_no} ({_e(e.tool)}): {_e(e.summary)}{_json(e.data)}</li>" for e in insight.evidence
        )
        parts.append(
            f'<details open><summary><span class="sev-{_e(insight.severity)}">{_e(insight.severity)}</span> '
            f"{_e(insight.title)} · confidence {insight.confidence:.2f}</summary><ul>{evidence}</ul></details>"
        )
    parts.append("<h2>Recommendations</h2>")
    if detail.recommendations:
        rows = "".join(
            f'<tr><td class="sev-{_e(r.severity)}">{_e(r.severity)}</td><td>{_e(r.action)}</td>'
            f"<td>{_e(r.rationale)}</td><td>{_e(r.status)}</td></tr>"
            for r in detail.recommendations
        )
        parts.append(f"<table><tr><th>severity</th><th>action</th><th>rationale</th><th>status</th></tr>{rows}</table>")
    else:
        parts.append("<p>none</p>")
    if detail.rule_draft is not None:
        draft = detail.rule_draft
        parts.append(
            f"<h2>Rule draft: {_e(draft.name)}</h2><p>{_e(draft.text)}</p>"
            + _json([c.model_dump(mode="json") for c in draft.condition])
            + f"<p>would have caught {len(draft.caught_transaction_ids)} past deposit(s)</p>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)
