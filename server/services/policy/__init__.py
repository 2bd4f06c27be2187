"""The policy decision point of the governed agents: a safe context in (context.py), a decision with the rule that
decided out (engine.py), asked in-process or over HTTP (point.py), right at the side effect (governor.py)."""
