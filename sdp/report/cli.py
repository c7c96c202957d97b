"""`sdp report get DATE`: the daily_analytics page of a shop day, from the gold bucket."""

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from jobs.batch.report import location
from sdp.platform import settings
from sdp.platform.checks import s3_client, s3_endpoint
from sdp.platform.cli import InventoryOpt, _fail, _inventory
from sdp.platform.inventory import LOCAL_INVENTORY

app = typer.Typer(no_args_is_help=True, help="The daily batch's HTML reports.")
console = Console(stderr=True)


@app.command()
def get(
    day: Annotated[str, typer.Argument(help="the shop day, YYYY-MM-DD")],
    inventory: InventoryOpt = LOCAL_INVENTORY,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="default: report-DAY.html here")
    ] = None,
):
    """Download the report `export_report` wrote for DAY."""
    from botocore.exceptions import ClientError

    try:
        shop_day = date.fromisoformat(day)
    except ValueError:
        raise _fail(f"DAY: {day!r} is not a date (YYYY-MM-DD)") from None
    inv = _inventory(inventory)
    bucket, key = location(settings.platform("sdp_bucket_prefix"), shop_day)
    out = output or Path(f"report-{shop_day}.html")
    try:
        s3_client(inv, s3_endpoint(inv)).download_file(bucket, key, str(out))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            raise _fail(
                f"no report for {shop_day} (s3://{bucket}/{key}): daily_analytics has not "
                "finished that day; trigger it (docs/batch.md)"
            ) from None
        raise _fail(f"s3://{bucket}/{key}: {exc}") from None
    console.print(f"{out}  (from s3://{bucket}/{key})", highlight=False)
