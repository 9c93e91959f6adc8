"""A burst of new friends while a re-sync and a mass message run, on the local stack (`local.burst`, the shape of
`make run` at a tenth of its size): every new friend welcomed, no code left to expire. The bound counts codes, not
milliseconds, so a loaded machine slows the figures without failing the test; a regression that puts bulk work
back on the welcome's path expires codes."""

from __future__ import annotations

import os

import pytest

from local.burst import open_burst_channel, play_burst, start_bulk_work
from local.environment import DemoEnvironment
from local.mass_message import seed_customers

pytestmark = pytest.mark.e2e


def test_a_burst_beside_bulk_work_welcomes_every_new_friend_in_time():
    with DemoEnvironment(employees=20, customers=1_000, access_log=False) as env:
        assert env.tenant is not None
        seed_customers(env.tenant.tenant_id, env.company)
        channel = open_burst_channel(env, "burst_e2e", "e2e")
        start_bulk_work(env)
        burst = play_burst(env, channel["state"], 60, 6.0, progress=False)
        assert env.stack is not None
        assert env.stack.pump is not None
        workers = env.stack.pump.functions["on_wecom_new_friend"]
        pids = workers.pids()

    assert burst.callbacks_answered == 60
    assert burst.codes_expired == 0
    assert burst.welcomed == 60
    assert burst.promises_broken() == []
    assert sorted(burst.send_welcome_codes) == ["0"]
    assert workers.provisioned > 0
    assert pids
    assert os.getpid() not in pids
