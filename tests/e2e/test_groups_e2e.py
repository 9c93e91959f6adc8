"""Customer groups end to end on the local stack: group sync, a group welcome template from the material library,
a join way whose joins arrive as callbacks and are attributed to it, and a group mass message to the way's groups
(audience by owner and join state), followed to its results per group (`local.demo_groups`)."""

from __future__ import annotations

import pytest

from local.demo_groups import run_group_demo
from local.environment import DemoEnvironment
from local.wecom_sim import SimConfig

pytestmark = pytest.mark.e2e


def test_group_welcome_join_way_and_group_mass_message():
    with DemoEnvironment(
        employees=12, customers=300, sim_config=SimConfig(seed=5, join_way_room_full=40), access_log=False
    ) as env:
        figures = run_group_demo(env, joins=5)
        assert figures["promises_broken"] == []
        assert figures["groups_synced"] == figures["groups_in_wecom"]
        assert figures["group_welcome_template"] is True
        assert figures["join_way_joins"] == 5
        assert figures["group_message_groups"] == figures["group_message_preview"] >= 1
        assert figures["group_message_status"] == "done"
        assert figures["group_message_received"] == figures["group_message_groups"]
