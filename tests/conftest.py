import contextlib

import dask
import numpy as np
import pytest
from dask.callbacks import Callback


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)


class _RaiseOnCompute(Callback):
    def _start(self, dsk):
        raise AssertionError("building the graph computed something")


@contextlib.contextmanager
def raise_if_dask_computes():
    """Fail if anything is computed inside the block (graph building must be lazy)."""
    with _RaiseOnCompute():
        yield


@pytest.fixture(autouse=True)
def _synchronous_default():
    # numeric checks run with the synchronous scheduler for clear tracebacks
    with dask.config.set(scheduler="synchronous"):
        yield


# --- object storage: real S3 and Azure Blob servers and a Range-honouring HTTP server on loopback

import http.server
import logging
import os
import queue
import re
import secrets
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

#: the secret key the tests' S3 server is reached with: tests grep outputs and logs for it
S3_SECRET = "tpsecret" + secrets.token_hex(12)
S3_KEY_ID = "tpkeyid" + secrets.token_hex(6)


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on 127.0.0.1 (a random free port), for the whole session."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """The environment a user of a local S3 server would set (children inherit it)."""
    env = {
        "AWS_ENDPOINT_URL": s3_server,
        "AWS_ACCESS_KEY_ID": S3_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ALLOW_HTTP"):
        monkeypatch.delenv(k, raising=False)
    return env


@pytest.fixture
def s3_bucket(s3_env, s3_server):
    """A fresh, empty bucket on the test server; its name."""
    import boto3

    name = "tp-" + uuid.uuid4().hex[:16]
    boto3.client("s3", endpoint_url=s3_server, aws_access_key_id=S3_KEY_ID, aws_secret_access_key=S3_SECRET,
                 region_name="us-east-1").create_bucket(Bucket=name)
    return name


#: Azurite, Microsoft's Azure Storage emulator (a Node.js program): its account and well-known key
AZURITE_VERSION = "3.37.0"
AZ_ACCOUNT = "devstoreaccount1"
AZ_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#: where the fixture installs Azurite when it is not on PATH (ignored by git)
TEST_TOOLS = Path(__file__).resolve().parent.parent / ".test-tools"


def _azurite_blob() -> str:
    """The ``azurite-blob`` executable: on PATH, in .test-tools/, or installed there with npm
    once (under a file lock, so that parallel test processes install it once)."""
    found = shutil.which("azurite-blob")
    if found:
        return found
    local = TEST_TOOLS / "node_modules" / ".bin" / "azurite-blob"
    if local.exists():
        return str(local)
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("The az:// tests run on Azurite, a Node.js program, and npm was not found: install "
                    "Node.js and npm (e.g. `apt install nodejs npm`, or https://nodejs.org), or put "
                    "`azurite-blob` on PATH (`npm install -g azurite`), then run the tests again.", pytrace=False)
    TEST_TOOLS.mkdir(exist_ok=True)
    with open(TEST_TOOLS / "install.lock", "w") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - Windows: no lock, the install is still idempotent
            pass
        if not local.exists():
            r = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(TEST_TOOLS),
                                f"azurite@{AZURITE_VERSION}"], check=False, capture_output=True, text=True,
                               timeout=900)
            if r.returncode or not local.exists():
                pytest.fail(f"`npm install --prefix {TEST_TOOLS} azurite@{AZURITE_VERSION}` failed "
                            f"(exit {r.returncode}): {(r.stderr or r.stdout).strip()[-2000:]}", pytrace=False)
    return str(local)


@pytest.fixture(scope="session")
def az_server(tmp_path_factory):
    """Azurite's Blob service on 127.0.0.1 (a free port it picks), in memory, for the whole session;
    its account's endpoint URL."""
    exe = _azurite_blob()
    work = tmp_path_factory.mktemp("azurite")
    proc = subprocess.Popen([exe, "--blobHost", "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence",
                             "--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry"],
                            cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines: queue.Queue = queue.Queue()

    def drain():  # read its output to the end, so that a full pipe never blocks it
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=drain, daemon=True).start()
    seen, url, deadline = [], None, time.monotonic() + 60
    while url is None:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"Azurite ({exe}) did not start: {''.join(seen)[-2000:]}", pytrace=False)
        seen.append(line)
        m = re.search(r"Blob service (?:is )?successfully listen(?:s|ing) on (http://127\.0\.0\.1:\d+)", line)
        url = m and m.group(1)
    try:
        yield f"{url}/{AZ_ACCOUNT}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def az_env(az_server, monkeypatch):
    """The environment a user of a local Azure Blob server would set (children inherit it)."""
    env = {"AZURE_STORAGE_ACCOUNT_NAME": AZ_ACCOUNT, "AZURE_STORAGE_ACCOUNT_KEY": AZ_KEY,
           "AZURE_STORAGE_ENDPOINT": az_server}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for k in list(os.environ):  # no other Azure setting of the machine running the tests
        if k.startswith("AZURE_") and k not in env:
            monkeypatch.delenv(k)
    return env


@pytest.fixture
def az_bucket(az_env, az_server):
    """A fresh, empty container on Azurite; its name (3-63 lowercase letters, digits, hyphens)."""
    from azure.storage.blob import BlobServiceClient

    name = "tp-" + uuid.uuid4().hex[:16]
    conn = (f"DefaultEndpointsProtocol=http;AccountName={AZ_ACCOUNT};AccountKey={AZ_KEY};"
            f"BlobEndpoint={az_server};")
    with BlobServiceClient.from_connection_string(conn) as client:
        client.create_container(name)
    return name


@pytest.fixture(params=["local", "s3", "az"])
def store_root(request, tmp_path):
    """Where a storage test keeps its stores: a local directory, or a prefix of a bucket on the
    S3 server, or of a container on Azurite. Each supports ``root / "name.zarr"``; ``str()`` of
    that is what the user types."""
    if request.param == "local":
        return tmp_path
    from tiledproc.io.remote import ObjectPath

    bucket = request.getfixturevalue(f"{request.param}_bucket")
    return ObjectPath(request.param, bucket, "data")


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files, honouring ``Range: bytes=a-b`` (206), and counts what it sends."""

    def log_message(self, *args):
        pass

    def send_head(self):
        path = self.translate_path(self.path)
        if not os.path.isfile(path):
            self.send_error(404)
            return None
        size = os.path.getsize(path)
        m = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", "") or "")
        f = open(path, "rb")
        if m and (m.group(1) or m.group(2)):
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
            else:
                start, end = max(0, size - int(m.group(2))), size - 1
            if start >= size:
                f.close()
                self.send_error(416)
                return None
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            length = end - start + 1
            f.seek(start)
        else:
            self.send_response(200)
            length = size
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{os.stat(path).st_mtime_ns:x}-{size:x}"')
        self.send_header("Last-Modified", self.date_time_string(int(os.stat(path).st_mtime)))
        self.end_headers()
        self._remaining = length
        return f

    def copyfile(self, source, outputfile):
        left = self._remaining
        while left > 0:
            data = source.read(min(left, 65536))
            if not data:
                break
            outputfile.write(data)
            left -= len(data)
            with self.server.lock:
                self.server.sent += len(data)
                self.server.requests += 1 if left <= 0 else 0


@pytest.fixture(scope="session")
def range_server(tmp_path_factory):
    """A Range-honouring HTTP server on 127.0.0.1 over a directory; ``(base URL, directory, server)``
    (``server.sent`` counts the body bytes sent)."""
    root = tmp_path_factory.mktemp("www")
    handler = lambda *a, **k: _RangeHandler(*a, directory=str(root), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.lock = threading.Lock()
    server.sent = 0
    server.requests = 0
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root, server
    finally:
        server.shutdown()
        server.server_close()
