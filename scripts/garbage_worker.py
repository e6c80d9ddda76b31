#!/usr/bin/env python3
"""A KServe v2 worker that answers every inference with HTTP 200 and garbage, in turn: a NaN
among the logits, shape [1, 10] for a 1000-class model, UINT8 instead of FP32, three outputs.
Health, readiness and metadata are sound (one FP32 output "output" of shape [-1, 1000]), so a
client that checks answers against the metadata can tell. Listens on 127.0.0.1 on a free port
and prints the port. Used by scripts/hostile.sh; stops by itself after --seconds (120)."""
import itertools
import json
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CASES = itertools.cycle(["nan", "shape", "uint8", "three"])
LOCK = threading.Lock()


def garbage(batch):
    with LOCK:
        case = next(CASES)
    logits = [0.001 * i for i in range(1000 * batch)]
    outputs = []
    if case == "nan":
        logits[7] = float("nan")
        outputs.append(("output", "FP32", [batch, 1000], struct.pack("<%df" % len(logits), *logits)))
    elif case == "shape":
        outputs.append(("output", "FP32", [batch, 10], struct.pack("<%df" % (10 * batch), *logits[: 10 * batch])))
    elif case == "uint8":
        outputs.append(("output", "UINT8", [batch, 1000], bytes(1000 * batch)))
    else:
        data = struct.pack("<%df" % len(logits), *logits)
        outputs += [("output", "FP32", [batch, 1000], data), ("aux1", "FP32", [batch, 1000], data),
                    ("aux2", "FP32", [batch, 1000], data)]
    header = {"model_name": "m", "outputs": [
        {"name": n, "datatype": t, "shape": s, "parameters": {"binary_data_size": len(d)}}
        for n, t, s, d in outputs]}
    head = json.dumps(header).encode()
    return head, head + b"".join(d for _, _, _, d in outputs)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, body, status=200, extra=()):
        self.send_response(status)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        if parts[:2] == ["v2", "models"] and len(parts) == 3:
            meta = {"name": parts[2], "platform": "garbage", "inputs": [
                {"name": "input", "datatype": "FP32", "shape": [-1, 3, 224, 224]}],
                "outputs": [{"name": "output", "datatype": "FP32", "shape": [-1, 1000]}]}
            return self.reply(json.dumps(meta).encode(), extra=[("Content-Type", "application/json")])
        self.reply(b'{"ready":true}', extra=[("Content-Type", "application/json")])

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        hl = self.headers.get("Inference-Header-Content-Length")
        req = json.loads(body[: int(hl)] if hl else body)
        batch = int(req["inputs"][0]["shape"][0])
        head, out = garbage(batch)
        self.reply(out, extra=[("Content-Type", "application/octet-stream"),
                               ("Inference-Header-Content-Length", str(len(head)))])


def main():
    seconds = 120
    if len(sys.argv) == 3 and sys.argv[1] == "--seconds":
        seconds = float(sys.argv[2])
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    threading.Timer(seconds, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
