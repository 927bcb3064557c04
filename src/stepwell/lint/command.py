"""``stepwell lint [PATHS...]`` and ``python -m stepwell.lint``: exit status 1 when there are
findings, 0 when there are none, 2 on a usage error (a missing path, an unknown rule, a
configuration that cannot be read)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from stepwell.lint import output, rules
from stepwell.lint.config import ConfigError
from stepwell.lint.runner import Overrides, PathError, lint_paths

DESCRIPTION = (
    "Check durable functions (ours and the official inngest-py SDK's) for code that breaks "
    "on replay. Reads the source; imports nothing. Rules: SW101-SW114 (--explain CODE); "
    "configure with [tool.stepwell.lint] in pyproject.toml; silence a line with "
    "`# noqa: SW101`."
)


def _codes(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or directories (.)")
    parser.add_argument(
        "--format", choices=output.FORMATS, default="text", help="output format (text)"
    )
    parser.add_argument(
        "--select", type=_codes, default=None, metavar="CODES",
        help="only these rules (comma-separated codes or prefixes, ALL)",
    )  # fmt: skip
    parser.add_argument(
        "--extend-select", type=_codes, default=None, metavar="CODES",
        help="these rules as well, e.g. the advice rules SW110,SW112,SW113",
    )  # fmt: skip
    parser.add_argument(
        "--ignore", type=_codes, default=None, metavar="CODES", help="not these rules"
    )
    parser.add_argument(
        "--isolated", action="store_true", help="ignore [tool.stepwell.lint] in pyproject.toml"
    )
    parser.add_argument(
        "--show-fixes", action="store_true", help="print the suggested fix under each finding"
    )
    parser.add_argument(
        "--exit-zero", action="store_true", help="exit 0 even when there are findings"
    )
    parser.add_argument(
        "--explain", metavar="CODE", default=None, help="describe a rule, then exit"
    )


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lint = commands.add_parser(
        "lint", help="check durable functions for code that breaks on replay",
        description=DESCRIPTION,
    )  # fmt: skip
    configure(lint)


def _explain(code: str) -> int:
    rule = rules.RULES.get(code.strip().upper())
    if rule is None or rule.code not in rules.SELECTABLE:
        print(f"stepwell lint: unknown rule {code!r} (rules are SW101 to SW114)", file=sys.stderr)
        return 2
    kind = "advice, off unless selected" if rule.advice else "on by default"
    print(f"{rule.code} {rule.name} ({kind})")
    print(f"  finds: {rule.message.format(what='<code>', detail='<class>')}")
    print(f"  fix:   {rule.fix}")
    print("  more:  docs/guides/lint.md")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.explain is not None:
        return _explain(args.explain)
    overrides = Overrides(
        select=args.select,
        ignore=args.ignore,
        extend_select=args.extend_select,
        isolated=args.isolated,
    )
    try:
        for codes in (args.select, args.ignore, args.extend_select):
            rules.expand(codes or [])
        result = lint_paths(args.paths or ["."], overrides)
    except (PathError, ConfigError, rules.SelectionError) as exc:
        print(f"stepwell lint: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(output.render(result.findings, args.format, show_fixes=args.show_fixes))
    if args.format == "text":
        count = len(result.findings)
        noun = "finding" if count == 1 else "findings"
        files = "file" if result.files == 1 else "files"
        print(f"{count} {noun} in {result.files} {files} checked", file=sys.stderr)
    return 1 if result.findings and not args.exit_zero else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stepwell lint", description=DESCRIPTION)
    configure(parser)
    return run(parser.parse_args(argv))
