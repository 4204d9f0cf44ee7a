"""The serve load test runs end to end on a tiny random index and stops by
itself after the bounded request count."""

from .scripts import load_script


def test_serve_load_is_bounded_and_reports(capsys):
    mod = load_script("serve_load")
    assert mod.main(["--random", "50,30", "--requests", "25", "--k", "5",
                     "--concurrency", "2"]) == 0
    out = capsys.readouterr().out
    assert "25 requests, 2 client threads, 0 errors" in out
    assert "identical" in out and "p99" in out
