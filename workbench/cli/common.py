"""What the store's commands share: `--db` and the open store, and dates given on the command line.

Every store verb takes `--db FILE` (or WORKBENCH_DB); the default is `<data_dir>/workbench.duckdb`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from functools import wraps
from pathlib import Path
from typing import Any

import click

from workbench.store import Store, StoreError


def with_store(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Adds `--db`, opens the store for the command and turns store errors into clean CLI errors."""

    @click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="WORKBENCH_DB",
        help="DuckDB file (default: <data_dir>/workbench.duckdb; env WORKBENCH_DB).",
    )
    @wraps(fn)
    def wrapper(*args: Any, db: Path | None, **kwargs: Any) -> Any:
        try:
            with Store(db) as store:
                return fn(store, *args, **kwargs)
        except StoreError as e:
            raise click.ClickException(str(e)) from e

    return wrapper


def parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as e:
        raise click.BadParameter(f"{value!r} is not a date like 2024-03-05") from e


def parse_datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as e:
        raise click.BadParameter(f"{value!r} is not a date or date-time like 2024-03-05 or 2024-03-05T09:30") from e


def echo_json(data: object) -> None:
    """`--json` output: UTF-8 as it is (case numbers and names stay readable), one space of indent."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=1))
