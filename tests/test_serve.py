import json
import threading
import urllib.error
import urllib.request

import pytest
import torch

from mmgraph.evaluation import Evaluator
from mmgraph.export import EmbeddingIndex
from mmgraph.serve import make_server, serve
from mmgraph.runs import load_run
from tests.run_factory import make_run


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    run_dir = make_run(tmp_path_factory.mktemp("serve"))
    model, dataset, _ = load_run(run_dir)
    server = make_server(EmbeddingIndex.from_run(run_dir), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    yield url, model, dataset, run_dir
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_recommend_matches_evaluator_rank(served):
    url, model, dataset, _ = served
    want = Evaluator(dataset).rank(model, torch.tensor([0, 13, 42]), 7)
    for u, items in zip((0, 13, 42), want.tolist()):
        status, body = _get(f"{url}/recommend?user=u{u}&k=7")
        assert status == 200 and body["user"] == f"u{u}" and body["k"] == 7
        assert [r["item"] for r in body["items"]] == \
            [f"item-{i}" for i in items]
        scores = [r["score"] for r in body["items"]]
        assert scores == sorted(scores, reverse=True)
        # training items excluded
        ei = dataset.train_edge_index
        train = {f"item-{i}" for i in ei[1][ei[0] == u].tolist()}
        assert not train & {r["item"] for r in body["items"]}


def test_default_k_and_health(served):
    url, _, dataset, _ = served
    status, body = _get(f"{url}/recommend?user=u1")
    assert status == 200 and len(body["items"]) == 10
    status, body = _get(f"{url}/health")
    assert status == 200 and body["status"] == "ok"
    assert body["users"] == dataset.num_users
    assert body["items"] == dataset.num_items


@pytest.mark.parametrize("path,code,text", [
    ("/recommend?user=nobody", 404, "unknown user id 'nobody'"),
    ("/recommend?user=u1&k=0", 400, "expected an integer"),
    ("/recommend?user=u1&k=ten", 400, "expected an integer"),
    ("/recommend", 400, "missing query parameter 'user'"),
    ("/elsewhere", 404, "no endpoint"),
])
def test_errors_are_one_line_json(served, path, code, text):
    url = served[0]
    status, body = _get(url + path)
    assert status == code and text in body["error"]
    assert "\n" not in body["error"]


def test_serve_from_npz_export_in_a_thread(served, tmp_path):
    _, _, _, run_dir = served
    from mmgraph.export import export_run
    npz = export_run(run_dir, "npz", tmp_path / "e.npz")
    bound, ready = [], threading.Event()

    def on_ready(server):
        bound.append(server)
        ready.set()
    t = threading.Thread(target=serve, args=(npz, "127.0.0.1", 0, on_ready),
                         daemon=True)
    t.start()
    assert ready.wait(60)
    port = bound[0].server_address[1]
    try:
        status, body = _get(f"http://127.0.0.1:{port}/recommend?user=u2&k=3")
        assert status == 200 and len(body["items"]) == 3
        want = _get(f"{served[0]}/recommend?user=u2&k=3")[1]
        assert body["items"] == want["items"]
    finally:
        bound[0].shutdown()
        t.join(timeout=10)
    assert not t.is_alive()


def test_cli_verb_serves_a_run_over_http(served, monkeypatch):
    # `mmgraph serve` through the CLI's main(): the real server on a free
    # port, queried with urllib, stopped from the test thread.
    import mmgraph.serve as serve_mod
    from mmgraph.cli import main
    url, _, _, run_dir = served
    bound = []
    real = serve_mod.serve
    monkeypatch.setattr(serve_mod, "serve", lambda src, host, port: real(
        src, host, port, on_ready=bound.append))
    rc = []
    t = threading.Thread(target=lambda: rc.append(
        main(["serve", "--run", str(run_dir), "--port", "0"])), daemon=True)
    t.start()
    for _ in range(600):
        if bound:
            break
        t.join(timeout=0.1)
    assert bound, "the server did not start"
    host, port = bound[0].server_address[:2]
    try:
        assert host == "127.0.0.1"
        got = _get(f"http://127.0.0.1:{port}/recommend?user=u3&k=4")
        assert got == _get(f"{url}/recommend?user=u3&k=4")
        assert got[0] == 200 and len(got[1]["items"]) == 4
    finally:
        bound[0].shutdown()
        t.join(timeout=30)
    assert rc == [0]


def test_cli_bad_port_is_a_usage_error(capsys):
    from mmgraph.cli import main
    assert main(["serve", "--run", "R", "--port", "-1"]) == 2
    assert "--port" in capsys.readouterr().err
