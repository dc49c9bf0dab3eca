"""options_chains_job: what `ingest_options` executes in-process, one partition per run."""

from dagster import AssetSelection, define_asset_job

options_chains_job = define_asset_job(
    "options_chains_job", selection=AssetSelection.assets("options_chains")
)
