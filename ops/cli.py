"""The ``lagezentrum`` command line: one console script, ``--help`` everywhere.

Each command reads its configuration once here, at the edge, and passes plain values down.
Failures exit non-zero with a one-line reason (see :func:`fail`).
"""

from __future__ import annotations

from typing import NoReturn

import typer

app = typer.Typer(
    name="lagezentrum",
    help="Lagezentrum: situation centre for civil protection (Rheinland-Pfalz).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(help="Benchmarks; each prints one JSON object.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


def fail(reason: str, code: int = 1) -> NoReturn:
    """Exit with a one-line reason on stderr (a database error's DETAIL and HINT lines are
    joined onto it)."""
    one_line = " ".join(reason.split())
    typer.echo(f"lagezentrum: error: {one_line}", err=True)
    raise typer.Exit(code)


def main() -> None:
    # Commands register themselves on import; keep that import here so `--help` sees them all.
    from ops import commands  # noqa: F401

    app()
