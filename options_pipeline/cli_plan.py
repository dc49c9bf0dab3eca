"""`ingest_options --dry-run`: a backfill's plan, from the ledger; nothing fetched or written."""

from __future__ import annotations

import json
from datetime import date

from options_pipeline import plan
from options_pipeline.calendar import is_session
from options_pipeline.db import store
from options_pipeline.db.connection import connection
from options_pipeline.exit_codes import ExitCode
from options_pipeline.providers.base import OptionsProvider


def run(
    url: str,
    provider: OptionsProvider,
    days: list[date],
    symbols: list[str],
    *,
    contracts_hint: dict[str, int] | None,
    as_json: bool,
) -> int:
    days = [d for d in days if is_session(d)]  # a closed weekday costs nothing: skipped
    with connection(url) as conn:
        completed = store.completed_pairs(conn, days, symbols)
        ledger = store.last_contract_counts(conn, symbols)
    the_plan = plan.build_plan(
        provider=provider,
        days=days,
        symbols=symbols,
        completed=completed,
        hints=plan.chain_hints(symbols, ledger, contracts_hint),
    )
    if as_json:
        print(json.dumps(plan.to_dict(the_plan), indent=2))
    else:
        print("\n".join(plan.render(the_plan)))
    return ExitCode.OK
