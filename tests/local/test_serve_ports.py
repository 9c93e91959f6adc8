"""`make serve` on a port another program holds: one line naming the port and the flag, exit 2, no traceback."""

from __future__ import annotations

import socket

import pytest

from local.__main__ import main

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("flag", ["--api-port", "--wecom-port", "--aws-port"])
def test_a_busy_port_is_named_with_the_flag_that_picks_another(flag, capsys):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        others_free = ["--api-port", "0", "--wecom-port", "0", "--aws-port", "0"]
        assert main(["serve", *others_free, flag, str(port)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [
        f"make serve: port {port} is already in use; choose another with {flag} PORT (0 picks a free one)"
    ]
    assert "Traceback" not in err
