"""``biril datasets``: every dataset, found or missing, as a table or JSON."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--data-root", help="Where datasets live (else $BIRIL_DATA, ~/.cache/biril/data).")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as one JSON list.")
def datasets(data_root, as_json) -> None:
    """List every dataset: found or missing, where, how many samples, input shape."""
    from rich.console import Console
    from rich.table import Table

    from biril.datasets import data_root as resolve_root
    from biril.datasets import inventory

    rows = inventory(data_root)
    if as_json:
        click.echo(json.dumps(rows))
        return
    root = resolve_root(data_root)
    # Paths below the root are shown relative to it; a long one wraps rather than being cut.
    table = Table(title=f"datasets under {root}")
    for col in ("dataset", "status", "path", "train", "val", "test", "input", "classes"):
        table.add_column(col, overflow="fold")
    for r in rows:
        status = {"found": "[green]found", "missing": "[yellow]missing"}.get(
            r["status"], "[red]" + r["status"]
        )
        n = [str(r[k]) if r[k] is not None else "-" for k in ("n_train", "n_val", "n_test")]
        shape = "×".join(str(s) for s in r["input_shape"])
        path = r["path"].removeprefix(f"{root}/")
        table.add_row(r["name"], status, path, *n, shape, str(r["num_classes"]))
    console = Console()
    console.print(table)
    for r in rows:
        if r["status"] == "error":
            console.print(f"{r['name']}: {r['detail']}")

