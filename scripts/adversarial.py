#!/usr/bin/env python3
"""The adversarial suite's API fuzzing: schemathesis over watchword's own OpenAPI document,
authenticated as an account's Owner by session and by API key, on SQLite and on PostgreSQL.

Each run starts the debug `watchword` binary (built by `cargo test --workspace`) on a fresh
database, signs an Owner up through the emailed link (read from the mail folder), makes a
full-preset API key, and runs schemathesis with a fixed seed and a bounded number of examples per
operation. It fails on any server error (5xx) and any answer that does not match the document
(status, content type, body schema).

    python3 scripts/adversarial.py [--examples N] [--backends sqlite,postgres]

PostgreSQL: WATCHWORD_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres).
"""
import argparse, json, os, re, shutil, socket, subprocess, sys, tempfile, time, urllib.request, uuid

PASSWORD = "vivid-Lantern-47-orbit!"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
# Operations that end the caller's own session or login (the run would continue signed out).
EXCLUDE = [
    "--exclude-path", "/api/v1/logout",
    "--exclude-path", "/api/v1/me/sessions/revoke-all",
    "--exclude-path", "/api/v1/me/sessions/revoke-others",
    "--exclude-path", "/api/v1/me/password",
    "--exclude-path-regex", "^/api/v1/me/sessions/\\{",
]


def target_dir():
    return os.environ.get("CARGO_TARGET_DIR") or os.path.join(os.path.dirname(__file__), "..", "target")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method)
    if body is not None:
        req.data = json.dumps(body).encode()
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def pg_database():
    admin = os.environ.get("WATCHWORD_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    name = "wwfuzz_" + uuid.uuid4().hex
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name}"], check=True)
    return admin.rsplit("/", 1)[0] + "/" + name, lambda: subprocess.run(
        ["psql", admin, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)


def run_backend(backend, who, examples, seed):
    """One schemathesis run on a fresh database, as its Owner by `who` (session or API key): a
    run may change the account (settings, roles) in ways that would skew the other."""
    data = tempfile.mkdtemp(prefix="wwfuzz-")
    drop = lambda: None
    env = dict(os.environ, WATCHWORD_LOG_LEVEL="warn", WATCHWORD_SIGNUPS_PER_IP_PER_HOUR="1000")
    port = free_port()
    args = [os.path.join(target_dir(), "debug", "watchword"), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data]
    if backend == "postgres":
        url, drop = pg_database()
        args += ["--database-url", url]
    server = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=1)
                break
            except Exception:
                time.sleep(0.05)
        s, _ = call(base, "POST", "/api/v1/signup", {"account_name": "Acme", "name": "Ada Lovelace", "email": "ada@example.com", "password": PASSWORD})
        assert s == 202, s
        token = None
        mail = os.path.join(data, "mail")
        for _ in range(200):
            for f in os.listdir(mail) if os.path.isdir(mail) else []:
                text = open(os.path.join(mail, f)).read().replace("=\r\n", "").replace("=\n", "").replace("=3D", "=")
                m = re.search(r"signup/confirm\?token=([A-Za-z0-9_-]+)", text)
                if m:
                    token = m.group(1)
            if token:
                break
            time.sleep(0.05)
        s, v = call(base, "POST", "/api/v1/signup/confirm", {"token": token, "session_mode": "token"})
        assert s == 201, v
        credential, account = v["session_token"], v["account"]["id"]
        if who == "api key":
            s, k = call(base, "POST", f"/api/v1/accounts/{account}/api-keys", {"name": "fuzz", "preset": "full"}, credential)
            assert s == 201, k
            credential = k["secret"]
        print(f"== schemathesis on {backend}, as the Owner by {who}", flush=True)
        cmd = ["schemathesis", "run", base + "/api/openapi.json", "--checks", CHECKS,
               "--max-examples", str(examples), "--seed", str(seed), "--workers", "2",
               # The coverage phase trips over an error inside schemathesis itself on Python 3.11.
               "--phases", "examples,fuzzing", "--suppress-health-check", "all",
               "--header", f"Authorization: Bearer {credential}", *EXCLUDE]
        return subprocess.run(cmd).returncode == 0
    finally:
        server.terminate()
        server.wait()
        drop()
        shutil.rmtree(data, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--examples", type=int, default=int(os.environ.get("WATCHWORD_FUZZ_EXAMPLES", "25")))
    p.add_argument("--backends", default="sqlite,postgres")
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    backends = a.backends.split(",")
    admin = os.environ.get("WATCHWORD_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if "postgres" in backends and subprocess.run(["psql", admin, "-qc", "SELECT 1"], capture_output=True).returncode != 0:
        if os.environ.get("CI") == "true":
            sys.exit(f"PostgreSQL is required in CI but {admin} is unreachable")
        print(f"SKIPPED on PostgreSQL: {admin} unreachable (CI=true makes this a failure)")
        backends.remove("postgres")
    results = [run_backend(b, who, a.examples, a.seed) for b in backends for who in ("session", "api key")]
    ok = all(results)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
