-- options_pipeline schema. Idempotent: safe to apply any number of times.
-- tickers, watchlists and options_chains match the user's existing deployment and are never
-- altered beyond this; option_chain_snapshots and dealer_metrics are additive and ours.

CREATE TABLE IF NOT EXISTS public.tickers (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    symbol varchar(20) NOT NULL UNIQUE,
    name text,
    sector text,
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.watchlists (
    watchlist_id varchar(255) NOT NULL,
    symbol varchar(20) NOT NULL,
    active boolean NOT NULL DEFAULT true,
    source text NOT NULL,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    effective_date date NOT NULL,
    UNIQUE (watchlist_id, symbol)
);

CREATE TABLE IF NOT EXISTS public.options_chains (
    time timestamptz NOT NULL,
    ticker_id uuid NOT NULL REFERENCES public.tickers (id) ON DELETE CASCADE,
    expiration_date date NOT NULL,
    strike_price numeric(12, 4) NOT NULL,
    option_type char(1) NOT NULL CHECK (option_type IN ('C', 'P')),
    bid numeric,
    ask numeric,
    last numeric,
    volume integer,
    open_interest integer,
    implied_volatility numeric,
    delta numeric,
    gamma numeric,
    theta numeric,
    vega numeric,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (time, ticker_id, expiration_date, strike_price, option_type)
);

CREATE INDEX IF NOT EXISTS options_chains_ticker_time_idx
    ON public.options_chains (ticker_id, time DESC);
CREATE INDEX IF NOT EXISTS options_chains_time_idx ON public.options_chains (time DESC);

-- TimescaleDB when the server offers it (and has it preloaded); a plain table otherwise.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
        PERFORM create_hypertable('public.options_chains', 'time',
                                  if_not_exists => true, migrate_data => true);
    END IF;
EXCEPTION WHEN others THEN
    RAISE NOTICE 'timescaledb not usable here (%); options_chains stays a plain table', SQLERRM;
END
$$;

-- The completion ledger: one row per (time, ticker_id), written in the same transaction as that
-- symbol's options_chains rows. A row here means "this (date, symbol) is complete".
CREATE TABLE IF NOT EXISTS public.option_chain_snapshots (
    time timestamptz NOT NULL,
    ticker_id uuid NOT NULL REFERENCES public.tickers (id) ON DELETE CASCADE,
    as_of date NOT NULL,
    provider text NOT NULL,
    underlying_price numeric,
    underlying_price_source text,
    provider_mark_time timestamptz,
    contract_count integer NOT NULL,
    rows_written integer NOT NULL,
    rejected_count integer NOT NULL DEFAULT 0,
    rejected_reasons jsonb NOT NULL DEFAULT '{}'::jsonb,
    provider_requests integer NOT NULL DEFAULT 0,
    completed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (time, ticker_id)
);
-- Σ open_interest of the snapshot as written: lets a check compare the stored rows to the ledger.
ALTER TABLE public.option_chain_snapshots ADD COLUMN IF NOT EXISTS open_interest_total bigint;

-- Which session the stored open interest is for (the previous session: the figure known at D's
-- open) and where it came from. rejected_reasons also counts `merged_identity`: rows of another
-- root folded into a stored row of the same identity (not rejected; not in rejected_count).
ALTER TABLE public.option_chain_snapshots ADD COLUMN IF NOT EXISTS open_interest_as_of date;
ALTER TABLE public.option_chain_snapshots ADD COLUMN IF NOT EXISTS open_interest_source text;

-- Dealer metrics per (time, ticker_id), replaced idempotently.
CREATE TABLE IF NOT EXISTS public.dealer_metrics (
    time timestamptz NOT NULL,
    ticker_id uuid NOT NULL REFERENCES public.tickers (id) ON DELETE CASCADE,
    as_of date NOT NULL,
    status text NOT NULL,
    confidence text NOT NULL,
    days_present integer NOT NULL,
    window_days integer NOT NULL,
    spot numeric,
    gex_net numeric,
    gex_total numeric,
    gamma_flip numeric,
    call_wall numeric,
    put_wall numeric,
    abs_gamma_strike numeric,
    gex_slope numeric,
    dealer_position text,
    eligible_contracts integer NOT NULL,
    total_contracts integer NOT NULL,
    sign_convention text NOT NULL,
    units text NOT NULL,
    document jsonb NOT NULL,
    model_version text NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (time, ticker_id)
);

-- The last failed attempt per (session, symbol), upserted by ingest_day: what `options-pipeline
-- gaps` reports for pairs the ledger does not hold. Keyed by symbol, not ticker_id, because a
-- symbol without a tickers row fails too. A later success leaves the row (the ledger wins).
CREATE TABLE IF NOT EXISTS public.option_chain_attempts (
    as_of date NOT NULL,
    symbol varchar(20) NOT NULL,
    provider text NOT NULL,
    reason text NOT NULL,
    message text NOT NULL,
    failures integer NOT NULL DEFAULT 1,
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    last_failed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (as_of, symbol)
);
