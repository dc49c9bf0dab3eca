"""`python -m scripts.ingest_options`: the documented entry point (see options_pipeline.cli)."""

from options_pipeline.cli import ingest_options_main

if __name__ == "__main__":
    raise SystemExit(ingest_options_main())
