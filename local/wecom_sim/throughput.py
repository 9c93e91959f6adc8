"""Measure the simulator: generation time of a large company and keep-alive answers per second.

    python -m local.wecom_sim.throughput [customers] [calls]

Prints one JSON line. The server runs in a child process so the client does not share its interpreter.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import sys
import time

import httpx


def _serve(customers: int, queue: multiprocessing.Queue, stop: multiprocessing.Event) -> None:
    from local.wecom_sim import SimConfig, Simulator

    sim = Simulator(SimConfig(seed=1))
    started = time.perf_counter()
    company = sim.add_company(employees=200, customers=customers)
    generated = time.perf_counter() - started
    base = sim.start()
    queue.put((base, company.corpid, company.secret, next(iter(company.book.customers)), generated))
    stop.wait()
    sim.stop()


def _rate(call: object, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        call()
    return round(calls / (time.perf_counter() - started))


def main(customers: int = 100_000, calls: int = 3000) -> dict:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    stop = multiprocessing.Event()
    server = multiprocessing.Process(target=_serve, args=(customers, queue, stop), daemon=True)
    server.start()
    base, corpid, secret, external_userid, generated = queue.get()
    figures = {"customers": customers, "generate_seconds": round(generated, 2)}
    try:
        with httpx.Client(base_url=base) as client:
            token_params = {"corpid": corpid, "corpsecret": secret}
            token = client.get("/cgi-bin/gettoken", params=token_params).json()["access_token"]
            get_params = {"access_token": token, "external_userid": external_userid}
            figures["httpx_gettoken_per_s"] = _rate(lambda: client.get("/cgi-bin/gettoken", params=token_params), calls)
            figures["httpx_get_per_s"] = _rate(
                lambda: client.get("/cgi-bin/externalcontact/get", params=get_params), calls
            )
        host, port = base.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port))
        path = f"/cgi-bin/externalcontact/get?access_token={token}&external_userid={external_userid}"

        def stdlib_get() -> None:
            connection.request("GET", path)
            connection.getresponse().read()

        figures["http_client_get_per_s"] = _rate(stdlib_get, calls)
        connection.close()
    finally:
        stop.set()
        server.join(10)
    return figures


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    print(json.dumps(main(*arguments)))
