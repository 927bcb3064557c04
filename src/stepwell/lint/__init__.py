"""``stepwell lint``: the rules of durable code, checked in the source before they bite.

Reads Python files with ``ast`` (nothing is imported) and checks the functions of both our SDK
(``@app.function``) and the official inngest-py SDK (``@client.create_function``) for what
breaks on replay: non-deterministic values and I/O outside steps, nested steps, step tools that
escape, plain sleeps, polling loops, steps not awaited, and more. The rules are in
``stepwell.lint.rules`` and explained in docs/guides/lint.md.
"""

from stepwell.lint.rules import RULES, Finding, Rule
from stepwell.lint.runner import Overrides, Result, lint_paths, lint_source

__all__ = ["RULES", "Finding", "Overrides", "Result", "Rule", "lint_paths", "lint_source"]
