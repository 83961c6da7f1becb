"""A stand-in for vLLM's OpenAI server: same arguments, /health and /v1/completions.

It answers with the fake backend's completions and spawns a child process (as vLLM's engine
core does), so tests can check that stopping takes the whole process group. STUB_FAIL=1 makes
it exit at startup after starting that child (as a crashing vLLM does); STUB_HANG=1 makes it
never become healthy; STUB_ECHO_ENV=NAME logs that variable's value.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from forgetflow.generation.base import SamplingParams
from forgetflow.generation.fake import FakeBackend


def completions(body: dict) -> dict:
    params = SamplingParams(
        max_tokens=body["max_tokens"], min_tokens=body.get("min_tokens", 0),
        temperature=body.get("temperature", 1.0), n=body.get("n", 1), seed=body.get("seed") or 0,
        stop=tuple(body.get("stop") or ()), ignore_eos=body.get("ignore_eos", False),
        logprobs=body.get("logprobs") is not None,
    )  # fmt: skip
    prompts = body["prompt"]
    done = FakeBackend().generate(prompts, params)
    choices = []
    for index, completion in enumerate(done):
        choice = {"index": index, "text": completion.text, "token_ids": list(completion.token_ids)}
        if params.logprobs:
            choice["logprobs"] = {"token_logprobs": list(completion.logprobs or ())}
        if body.get("prompt_logprobs") is not None:
            prompt = prompts[index // params.n]
            choice["prompt_logprobs"] = [None] + [
                {str(t): {"logprob": -0.5 * (1 + t % 3)}} for t in prompt[1:]
            ]
        choices.append(choice)
    return {"choices": choices}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        payload = json.dumps(completions(body)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        print("request", *args, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args, _ = parser.parse_known_args()
    print(f"stub server for {args.model}", flush=True)
    if os.environ.get("STUB_ECHO_ENV"):
        name = os.environ["STUB_ECHO_ENV"]
        print(f"{name}={os.environ.get(name, '<unset>')}", flush=True)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])  # noqa: S603
    print(f"engine core pid {child.pid}", flush=True)
    if os.environ.get("STUB_FAIL"):
        print("RuntimeError: Engine core initialization failed (on purpose)", flush=True)
        sys.exit(1)
    if os.environ.get("STUB_HANG"):
        time.sleep(3600)
    ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
