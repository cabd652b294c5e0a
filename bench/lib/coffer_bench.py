"""What every bench/*/helper.py needs to talk to Coffer: the SDK-HMAC-SHA256 signer, signed calls,
the bootstrap account, a free port and the subcommand dispatch. Stdlib only, so that the benches
run without the project's venv. A helper imports it with

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
    from coffer_bench import ...
"""
import hashlib
import hmac
import json
import socket
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import quote, urlsplit


def die(message):
    sys.exit(f"helper.py: {message}")


# --- SDK-HMAC-SHA256 (reference huawei-api.md 5.2/5.3), with a fixed header set: host;x-sdk-date ---

def sign(method, host, path, query_pairs, ak, sk, sdk_date, body=b""):
    """Returns (query string to send, Authorization). The query is sent exactly as canonicalised."""
    uri = "/".join(quote(s, safe="~") for s in path.split("/"))
    uri = uri if uri.endswith("/") else uri + "/"
    query = "&".join(f"{quote(k, safe='~')}={quote(str(v), safe='~')}" for k, v in sorted(query_pairs))
    headers = f"host:{host}\nx-sdk-date:{sdk_date}\n"
    creq = "\n".join([method, uri, query, headers, "host;x-sdk-date", hashlib.sha256(body).hexdigest()])
    sts = f"SDK-HMAC-SHA256\n{sdk_date}\n{hashlib.sha256(creq.encode()).hexdigest()}"
    sig = hmac.new(sk.encode(), sts.encode(), hashlib.sha256).hexdigest()
    return query, f"SDK-HMAC-SHA256 Access={ak}, SignedHeaders=host;x-sdk-date, Signature={sig}"


# Golden vector EX1 of the reference: if this fails, the signer (not the server) is wrong.
assert sign("GET", "127.0.0.1:8080", "/v2/PROJ/instances/INST/backups", [("offset", 0), ("limit", 10)],
            "AKEXAMPLE", "SKEXAMPLE", "20240101T000000Z")[1].endswith(
    "Signature=051b05ffacaf83582ef196ef0bae5cf1f37a77352b59aa4776b30ee7b3d0e663")


def signed_request(endpoint, account, method, path, query_pairs=(), body=None):
    """Signs one request; returns (URL, headers, body bytes). Split from send() so that a request
    signed once can also be replayed by another client (wrk): the signature is valid for ±15 min."""
    host = urlsplit(endpoint).netloc
    sdk_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    data = json.dumps(body).encode() if body is not None else b""
    query, auth = sign(method, host, path, list(query_pairs), account["access_key"], account["secret_key"], sdk_date, data)
    url = f"{endpoint}{path}" + (f"?{query}" if query else "")
    return url, {"Host": host, "X-Sdk-Date": sdk_date, "Authorization": auth}, data


def send(method, url, headers, data=b""):
    """Sends a signed request; returns (status, parsed JSON or the raw text). Error statuses are
    returned, not raised, so that a helper can print what the server said. The timeout only ends a
    hung bench; it is generous because a POST may wait on a busy server."""
    if data:
        headers = {**headers, "Content-Type": "application/json"}
    req = urllib.request.Request(url, data=data or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode()
    try:
        payload = json.loads(text) if text else None
    except ValueError:
        payload = text
    return status, payload


def call(endpoint, account, method, path, query_pairs=(), body=None):
    """One signed request; returns (status, parsed JSON or raw text)."""
    url, headers, data = signed_request(endpoint, account, method, path, query_pairs, body)
    return send(method, url, headers, data)


def load_account(bootstrap):
    """The admin account the server wrote at first start (its --data-dir's bootstrap.json)."""
    with open(bootstrap) as f:
        return json.load(f)


def parse_wrk(path):
    """A `wrk --latency` output's requests/s, p99 in ms, non-2xx/3xx answers and socket errors. wrk prints
    latencies as 812.00us / 1.23ms / 2.01s / 1.00m."""
    text = open(path).read()
    rps = p99 = None
    non2xx = sockets = 0
    for line in text.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            rps = float(words[1])
        elif len(words) == 2 and words[0] == "99%":
            value, unit = float(words[1].rstrip("usmh")), words[1].lstrip("0123456789.")
            p99 = value * {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}[unit]
        elif "Non-2xx or 3xx responses" in line:
            non2xx = int(words[-1])
        elif line.strip().startswith("Socket errors"):  # "Socket errors: connect 0, read 0, write 0, timeout 12"
            sockets = sum(int(part.split()[-1]) for part in line.split(":", 1)[1].split(","))
    if rps is None or p99 is None:
        die(f"cannot parse wrk output {path}:\n{text}")
    return rps, p99, non2xx, sockets, text


def register_data_nodes(endpoint, account, ports):
    """Registers a DDM data node for each of the comma-separated loopback `ports`; returns their ids."""
    nodes = []
    for i, port in enumerate(ports.split(",")):
        status, body = call(endpoint, account, "POST", f"/v3/{account['project_id']}/data-nodes",
                            body={"name": f"bench-dn-{i}", "private_ip": "127.0.0.1", "port": int(port)})
        if status != 201:
            die(f"data node: {status} {body}")
        nodes.append(body["id"])
    return nodes


def cmd_port():
    """Prints a free TCP port on 127.0.0.1 (for the run.sh scripts, which cannot ask the kernel)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def main(doc, **commands):
    """Runs the subcommand named in argv[1] with the other arguments; every helper also has `port`."""
    commands = {"port": cmd_port, **commands}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        die(doc)
    commands[sys.argv[1]](*sys.argv[2:])
