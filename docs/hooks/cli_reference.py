"""MkDocs hook: the command-line reference, generated from deeptag's own argument parser.

A page that holds the line ``<!-- deeptag-cli-reference -->`` gets, in its place, one section per
subcommand of ``deeptag.cli.build_parser()``: its usage, its description and a table of its arguments
(with their choices and defaults), group by group. Nothing of it is written by hand, so the page cannot
drift from the program.
"""
from __future__ import annotations

import argparse

MARKER = "<!-- deeptag-cli-reference -->"


def _escape(text: str) -> str:
    """Prose for a Markdown table cell: no column break, no HTML, no emphasis."""
    for char, escaped in (("\\", "\\\\"), ("|", "\\|"), ("*", "\\*"), ("_", "\\_"), ("<", "&lt;"), (">", "&gt;")):
        text = text.replace(char, escaped)
    return " ".join(text.split())


def _code(text: str) -> str:
    if "|" not in text and "`" not in text:
        return f"`{text}`"
    html = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "&#124;")
    return f"<code>{html}</code>"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                found[name] = (sub, helps.get(name) or "")
    return found


def _argument_row(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    formatter = parser._get_formatter()
    if action.option_strings:
        names = ", ".join(action.option_strings)
        if action.nargs != 0:
            metavar = formatter._format_args(action, action.dest.upper())
            names = f"{names} {metavar}"
    else:
        names = formatter._format_args(action, action.dest)
    description = formatter._expand_help(action) if action.help else ""
    details = []
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        details.append("choices: " + ", ".join(_code(str(c)) for c in action.choices))
    if action.required and action.option_strings:
        details.append("required")
    if (action.option_strings and action.default not in (None, False, argparse.SUPPRESS)
            and action.nargs != 0):
        details.append(f"default: {_code(str(action.default))}")
    text = _escape(description)
    if details:
        text = (text + " " if text else "") + "(" + "; ".join(details) + ")"
    return f"| {_code(names)} | {text} |"


def _section(name: str, parser: argparse.ArgumentParser, summary: str) -> list[str]:
    lines = [f"## `{name}`", ""]
    if summary:
        lines += [summary[0].upper() + summary[1:] + ".", ""]
    lines += ["```text", parser.format_usage().strip(), "```", ""]
    if parser.description:
        lines += [_escape(parser.description), ""]
    for group in parser._action_groups:
        actions = [a for a in group._group_actions
                   if a.help != argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)]
        if not actions:
            continue
        lines += [f"**{_escape(group.title)}**", ""]
        if group.description:
            lines += [_escape(group.description), ""]
        lines += ["| argument | meaning |", "| --- | --- |"]
        lines += [_argument_row(parser, a) for a in actions]
        lines.append("")
    return lines


def cli_reference() -> str:
    """Markdown for every subcommand of the ``deeptag`` program."""
    from deeptag.cli import build_parser

    parser = build_parser()
    lines = ["```text", parser.format_usage().strip(), "```", ""]
    if parser.description:
        lines += [parser.description, ""]
    commands = _subcommands(parser)
    lines += ["| command | what it does |", "| --- | --- |"]
    lines += [f"| [`{name}`](#{name}) | {_escape(summary)} |" for name, (_, summary) in commands.items()]
    lines.append("")
    for name, (sub, summary) in commands.items():
        lines += _section(name, sub, summary)
    return "\n".join(lines)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, cli_reference())
