"""Result tables: rich tables for the terminal, markdown for committed results."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

DEFAULT_COLUMNS = (
    "psnr_3d",
    "psnr_unmeasured",
    "ssim_xy",
    "ssim_xz",
    "ssim_yz",
    "ssim_unmeasured",
    "seconds",
)


def format_value(value: object) -> str:
    """A table cell: floats to 3 decimals below 1.5 and 2 above, NaN as '-'."""
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.3f}" if abs(value) < 1.5 else f"{value:.2f}"
    return str(value)


def header(column: str) -> str:
    """Short display name: 'psnr_xz' -> 'PSNR xz', 'ssim_unmeasured' -> 'SSIM unmeas'."""
    name = column.replace("psnr_", "PSNR ").replace("ssim_", "SSIM ").replace("unmeasured", "unmeas")
    return name.replace("measured", "meas").replace("seconds", "time s")


def rich_table(rows: Sequence[dict], columns: Sequence[str] = DEFAULT_COLUMNS, title: str | None = None) -> Table:
    """A rich Table with a 'method' column and the given metric columns (missing values shown as '-')."""
    table = Table(title=title)
    table.add_column("method", style="bold")
    for col in columns:
        table.add_column(header(col), justify="right")
    for row in rows:
        table.add_row(str(row.get("method", "")), *(format_value(row.get(c, float("nan"))) for c in columns))
    return table


def markdown_table(rows: Sequence[dict], columns: Sequence[str] = DEFAULT_COLUMNS) -> str:
    """The same table as GitHub markdown."""
    head = ["method", *(header(c) for c in columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        lines.append(
            "| "
            + " | ".join([str(row.get("method", ""))] + [format_value(row.get(c, float("nan"))) for c in columns])
            + " |"
        )
    return "\n".join(lines) + "\n"


def print_table(rows: Sequence[dict], columns: Sequence[str] = DEFAULT_COLUMNS, title: str | None = None) -> None:
    """Print the rich table to stdout."""
    import sys

    console = Console() if sys.stdout.isatty() else Console(width=160)
    console.print(rich_table(rows, columns, title))
