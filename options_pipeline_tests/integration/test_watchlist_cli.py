import pytest

from options_pipeline_tests.cli_helpers import options_pipeline


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    result = options_pipeline(capsys, *argv)
    return result.code, result.out, result.err


def _state(db):
    tickers = [r[0] for r in db.execute("SELECT symbol FROM tickers ORDER BY symbol")]
    rows = db.execute(
        "SELECT watchlist_id, symbol, active FROM watchlists ORDER BY watchlist_id, symbol"
    ).fetchall()
    return tickers, rows


def test_watchlist_round_trip(pipeline_env, db, capsys):
    assert _run(capsys, "watchlist", "add", "core", "spy", "QQQ", "brk.b")[0] == 0
    tickers, rows = _state(db)
    assert tickers == ["BRK.B", "QQQ", "SPY"]
    assert rows == [("core", "BRK.B", True), ("core", "QQQ", True), ("core", "SPY", True)]

    assert _run(capsys, "watchlist", "deactivate", "core", "QQQ")[0] == 0
    code, out, _ = _run(capsys, "watchlist", "list", "core")
    assert code == 0 and "core\tQQQ\tinactive" in out and "core\tSPY\tactive" in out

    assert _run(capsys, "watchlist", "activate", "core", "QQQ")[0] == 0
    assert _run(capsys, "watchlist", "remove", "core", "BRK.B")[0] == 0
    tickers, rows = _state(db)
    assert rows == [("core", "QQQ", True), ("core", "SPY", True)]
    assert "BRK.B" in tickers  # the ticker stays registered

    assert _run(capsys, "watchlist", "add", "core", "SPY")[0] == 0  # idempotent
    assert _state(db)[1] == rows


def test_index_aliases_are_stored_plain(pipeline_env, db, capsys):
    code, out, _ = _run(
        capsys, "watchlist", "add", "idx", "^SPX", "I:NDX", "rut", "^vix", "xsp", "I:DJX", "SPX"
    )
    assert code == 0 and "idx: added DJX NDX RUT SPX VIX XSP" in out
    assert _state(db)[0] == ["DJX", "NDX", "RUT", "SPX", "VIX", "XSP"]
    assert _run(capsys, "watchlist", "remove", "idx", "I:SPX")[0] == 0
    assert ("idx", "SPX", True) not in _state(db)[1]


@pytest.mark.parametrize(
    "symbol",
    [
        "X'); DROP TABLE tickers;--",
        "SP Y",
        "SPY;",
        'S"PY',
        "ÅAPL",
        "A" * 21,
        "A" * 40,
        "",
        "$SPX",
        "I:SPY",
        "I:",
    ],
)
def test_bad_symbols_are_one_line_errors_and_write_nothing(pipeline_env, db, capsys, symbol):
    code, _out, err = _run(capsys, "watchlist", "add", "core", "SPY", symbol)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "invalid symbol" in err
    assert "Traceback" not in err
    assert _state(db) == ([], [])


def test_db_url_masks_the_password(pipeline_env, monkeypatch, capsys, database_url):
    code, out, _ = _run(capsys, "db", "url")
    assert code == 0 and out.strip() == database_url  # the test server has no password
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:s3cret@127.0.0.1:1/x")
    code, out, err = _run(capsys, "db", "url")
    assert code == 2 and "s3cret" not in err and "cannot connect" in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_verb_is_a_usage_error(pipeline_env, capsys):
    code, _, err = _run(capsys, "watchlist", "frobnicate")
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_watchlist_add_says_what_was_added_and_what_was_already_there(pipeline_env, db, capsys):
    assert _run(capsys, "watchlist", "add", "core", "SPY", "QQQ")[1] == "core: added QQQ SPY\n"
    assert _run(capsys, "watchlist", "deactivate", "core", "QQQ")[0] == 0
    code, out, _ = _run(capsys, "watchlist", "add", "core", "SPY", "QQQ", "IWM")
    assert code == 0
    assert out.splitlines() == [
        "core: added IWM",
        "core: reactivated QQQ",
        "core: already active SPY",
    ]
    assert _state(db)[1] == [("core", "IWM", True), ("core", "QQQ", True), ("core", "SPY", True)]
