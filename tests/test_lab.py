"""JupyterLab opens the notebooks: a headless Jupyter server (the one `make lab` starts)
serves every notebook through its contents API as a valid notebook, and the lab page."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_jupyter_lab_serves_every_notebook(tmp_path):
    pytest.importorskip("jupyterlab")
    port, token = _free_port(), secrets.token_hex(8)
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}",
         "--ServerApp.open_browser=False", *(["--allow-root"] if os.geteuid() == 0 else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path),
             "JUPYTER_CONFIG_DIR": str(tmp_path / "config")},
    )  # fmt: skip

    def get(path: str) -> bytes:
        req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     headers={"Authorization": f"token {token}"})  # fmt: skip
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read()

    try:
        deadline = time.time() + 90
        while True:
            try:
                get("/api/status")
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()[-2000:]
                assert time.time() < deadline, "Jupyter did not start"
                time.sleep(0.5)
        assert b"JupyterLab" in get("/lab")
        listing = json.loads(get("/api/contents/notebooks"))
        names = {c["name"] for c in listing["content"] if c["type"] == "notebook"}
        expected = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
        assert names == expected
        for name in sorted(expected):
            model = json.loads(get(f"/api/contents/notebooks/{name}"))
            assert model["type"] == "notebook" and model["content"]["cells"], name
            kernel = model["content"]["metadata"]["kernelspec"]["name"]
            assert kernel == "python3", name
        specs = json.loads(get("/api/kernelspecs"))
        assert "python3" in specs["kernelspecs"]
    finally:
        server.terminate()
        server.wait(timeout=30)
