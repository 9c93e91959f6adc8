"""Acquisition links and customer moments end to end on the local stack: a link-attributed new friend gets the
campaign's welcome through the real callback path, and a moment task is followed to its end (`local.demo_moments`,
the very code `make run` reports from)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.demo_moments import link_friends_welcomed, moment_followed_to_end
from local.environment import DemoEnvironment
from local.wecom_sim.config import SimConfig

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def env() -> Iterator[DemoEnvironment]:
    config = SimConfig(never_confirm_share=0.5, moment_like_share=0.5, moment_comment_share=0.2)
    with DemoEnvironment(employees=10, customers=100, sim_config=config, access_log=False) as environment:
        yield environment


def test_link_friends_get_the_campaign_welcome_then_a_moment_is_followed_to_its_end(env):
    links = link_friends_welcomed(env, friends=3)
    assert links["link_friends_with_campaign_welcome"] == 3
    assert links["link_friends_counted"] == 3
    assert links["welcome_delay_max"] < 20

    moment = moment_followed_to_end(env)
    assert moment["moment_status"] == "done"
    assert moment["moment_employees"] == 4
    assert 0 < moment["moment_published"] < 4
    assert moment["moment_reminded"] == 4 - moment["moment_published"]
    assert moment["moment_customers_reached"] > 0
    assert moment["moment_likes"] > 0
