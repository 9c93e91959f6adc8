"""The WeCom simulator over HTTP: plain httpx, wechatpy's own client and crypto, callbacks to a local receiver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from defusedxml import ElementTree
from wechatpy.enterprise import WeChatClient
from wechatpy.enterprise.crypto import WeChatCrypto

from local.wecom_sim import SimConfig, Simulator

pytestmark = pytest.mark.e2e


class Running:
    """A started simulator with one company and an httpx client holding a token."""

    def __init__(self, config: SimConfig, customers: int = 300) -> None:
        self.sim = Simulator(config)
        self.company = self.sim.add_company(employees=12, customers=customers, tags=20)
        self.base = self.sim.start()
        self.http = httpx.Client(base_url=self.base + "/cgi-bin/", timeout=5)
        self.token = self.gettoken()

    def gettoken(self) -> str:
        answer = self.http.get("gettoken", params={"corpid": self.company.corpid, "corpsecret": self.company.secret})
        return answer.json()["access_token"]

    def get(self, api: str, **params: str) -> dict:
        return self.http.get(api, params={"access_token": self.token, **params}).json()

    def post(self, api: str, body: dict) -> dict:
        return self.http.post(api, params={"access_token": self.token}, json=body).json()

    def close(self) -> None:
        self.http.close()
        self.sim.stop()


@pytest.fixture
def make() -> Iterator:
    started: list[Running] = []

    def factory(customers: int = 300, **config: object) -> Running:
        running = Running(SimConfig(seed=11, **config), customers)
        started.append(running)
        return running

    yield factory
    for running in started:
        running.close()


class Receiver:
    """The app's callback endpoint stand-in: records POSTs, answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        received = self.received = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((dict(parse_qsl(urlsplit(self.path).query)), body))
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.status = status
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/wecom/t1/callback"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def test_token_rules(make) -> None:
    run = make(token_ttl=100)
    company = run.company
    assert run.http.get("gettoken", params={"corpid": company.corpid, "corpsecret": "wrong"}).json()["errcode"] == 40001
    assert run.http.get("gettoken", params={"corpid": "wwnobody", "corpsecret": "x"}).json()["errcode"] == 40013
    assert run.http.get("user/get", params={"userid": "emp00001"}).json()["errcode"] == 41001
    assert run.get("user/get", userid="emp00001")["name"]
    run.token = "forged"
    assert run.get("user/get", userid="emp00001")["errcode"] == 40014
    run.token = run.gettoken()
    run.sim.clock.advance(101)
    assert run.get("user/get", userid="emp00001")["errcode"] == 42001


def test_request_validation_and_unknown_paths(make) -> None:
    run = make()
    bad = run.http.post("externalcontact/remark", params={"access_token": run.token}, content=b"{not json")
    assert bad.json()["errcode"] == 40058
    assert run.get("externalcontact/remark")["errcode"] == 40058, "a POST API called with GET"
    unknown = run.http.get("externalcontact/nothing", params={"access_token": run.token})
    assert unknown.status_code == 404
    assert unknown.json()["errcode"] != 0


def test_frequency_limit_blocks_for_the_rest_of_the_minute(make) -> None:
    run = make(corp_api_per_minute=3, clock_start=1_700_000_000.0, clock_factor=0.001)
    answers = [run.get("user/get", userid="emp00001")["errcode"] for _ in range(4)]
    assert answers == [0, 0, 0, 45009]
    assert run.get("department/list")["errcode"] == 0, "other APIs are counted apart"
    run.sim.clock.advance(60)
    assert run.get("user/get", userid="emp00001")["errcode"] == 0
    assert run.sim.stats(run.company.corpid)["codes"]["user/get"]["45009"] == 1


def test_concurrency_cap_answers_45033(make) -> None:
    run = make(concurrency_cap=2, fault_latency_real_ms=300)
    external_userid = next(iter(run.company.book.customers))
    with ThreadPoolExecutor(5) as pool:
        urls = [pool.submit(run.get, "externalcontact/get", external_userid=external_userid) for _ in range(5)]
        codes = sorted(future.result()["errcode"] for future in urls)
    assert codes.count(0) == 2
    assert codes.count(45033) == 3


def test_busy_faults_have_no_effect_and_lost_responses_do(make) -> None:
    run = make(fault_error_share=1.0, fault_paths=frozenset({"externalcontact/remark"}))
    follow = next(iter(run.company.book.by_user["emp00001"].values()))
    body = {"userid": follow.userid, "external_userid": follow.external_userid, "remark": "VIP"}
    assert run.post("externalcontact/remark", body)["errcode"] == -1
    assert follow.remark != "VIP"
    lost = make(fault_lost_share=1.0, fault_paths=frozenset({"externalcontact/remark"}))
    follow = next(iter(lost.company.book.by_user["emp00001"].values()))
    body = {"userid": follow.userid, "external_userid": follow.external_userid, "remark": "VIP"}
    with pytest.raises(httpx.TransportError):
        lost.post("externalcontact/remark", body)
    assert follow.remark == "VIP", "the change was made although the caller saw no answer"
    assert lost.sim.stats(lost.company.corpid)["faults"] == {"lost": 1}


def test_customer_reads_paging_and_limits(make) -> None:
    run = make()
    company = run.company
    assert run.get("externalcontact/get_follow_user_list")["follow_user"] == list(company.employees)
    mine = run.get("externalcontact/list", userid="emp00002")["external_userid"]
    assert mine == [f.external_userid for f in company.book.follows_of_user("emp00002")]
    got = run.get("externalcontact/get", external_userid=mine[0])
    assert got["external_contact"]["external_userid"] == mine[0]
    assert "emp00002" in [f["userid"] for f in got["follow_user"]]
    assert run.get("externalcontact/get", external_userid="wmnobody")["errcode"] == 40096
    seen, cursor = [], ""
    while True:
        page = run.post(
            "externalcontact/batch/get_by_user", {"userid_list": ["emp00002"], "limit": 500, "cursor": cursor}
        )
        assert len(page["external_contact_list"]) <= 100, "limit over 100 is clamped to 100"
        seen += [item["external_contact"]["external_userid"] for item in page["external_contact_list"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == mine
    too_many = {"userid_list": [f"emp{i:05d}" for i in range(101)]}
    assert run.post("externalcontact/batch/get_by_user", too_many)["errcode"] == 40058


def test_remark_and_tag_rules(make) -> None:
    run = make()
    follow = next(iter(run.company.book.by_user["emp00003"].values()))
    who = {"userid": follow.userid, "external_userid": follow.external_userid}
    assert run.post("externalcontact/remark", {**who, "remark": "x" * 21})["errcode"] == 40058
    assert run.post("externalcontact/remark", {**who, "description": "d" * 151})["errcode"] == 40058
    assert run.post("externalcontact/remark", {**who, "remark": "老客户"})["errcode"] == 0
    assert follow.remark == "老客户"
    assert run.post("externalcontact/mark_tag", {**who, "add_tag": ["etnope"]})["errcode"] == 40068
    added = run.post("externalcontact/add_corp_tag", {"group_name": "渠道", "tag": [{"name": "门店"}]})
    tag_id = added["tag_group"]["tag"][0]["id"]
    assert run.post("externalcontact/mark_tag", {**who, "add_tag": [tag_id]})["errcode"] == 0
    tags = run.get("externalcontact/get", external_userid=follow.external_userid)["follow_user"]
    assert tag_id in [t["tag_id"] for f in tags if f["userid"] == follow.userid for t in f["tags"]]
    assert run.post("externalcontact/del_corp_tag", {"tag_id": [tag_id]})["errcode"] == 0
    assert tag_id not in follow.tag_ids
    assert run.sim.stats(run.company.corpid)["callbacks"] == {}, "API changes produce no callback"


NOON_IN_SHANGHAI = 1_781_496_000
"""2026-06-15 12:00 in Asia/Shanghai: a day's quota test started on the wall clock failed when it ran across China's
midnight (16:00 UTC), the second message landing on a new day."""


def test_mass_message_lifecycle(make) -> None:
    run = make(
        quota_rule="day_1", confirm_delay=60, dispatch_seconds=5, clock_factor=0.001, clock_start=NOON_IN_SHANGHAI
    )
    company = run.company
    targets = [f.external_userid for f in company.book.follows_of_user("emp00004")][:5]
    body = {"sender": "emp00004", "external_userid": [*targets, "wmunknown"], "text": {"content": "新品上市"}}
    created = run.post("externalcontact/add_msg_template", body)
    assert created["errcode"] == 0
    assert created["fail_list"] == ["wmunknown"]
    msgid = created["msgid"]
    assert run.post("externalcontact/get_groupmsg_task", {"msgid": msgid})["errcode"] == 41063
    run.sim.clock.advance(10)
    task = run.post("externalcontact/get_groupmsg_task", {"msgid": msgid})
    assert task["task_list"] == [{"userid": "emp00004", "status": 0}]
    run.sim.clock.advance(60)
    sent = run.post("externalcontact/get_groupmsg_send_result", {"msgid": msgid, "userid": "emp00004"})
    assert [r["status"] for r in sent["send_list"]] == [1] * 5
    again = run.post("externalcontact/add_msg_template", {**body, "external_userid": targets[:2]})
    run.sim.clock.advance(70)
    second = run.post("externalcontact/get_groupmsg_send_result", {"msgid": again["msgid"], "userid": "emp00004"})
    assert [r["status"] for r in second["send_list"]] == [3, 3], "one per day: over quota"
    stats = run.sim.stats(company.corpid)
    assert stats["mass_received"]["total"] == 5
    now = int(run.sim.clock.now())
    listed = run.post(
        "externalcontact/get_groupmsg_list_v2", {"chat_type": "single", "start_time": now - 3600, "end_time": now}
    )
    assert [m["msgid"] for m in listed["group_msg_list"]] == [msgid, again["msgid"]]
    too_wide = {"chat_type": "single", "start_time": now - 40 * 86_400, "end_time": now}
    assert run.post("externalcontact/get_groupmsg_list_v2", too_wide)["errcode"] == 40058
    for _ in range(3):
        assert run.post("externalcontact/remind_groupmsg_send", {"msgid": msgid})["errcode"] == 0
    assert run.post("externalcontact/remind_groupmsg_send", {"msgid": msgid})["errcode"] == 41094
    assert run.post("externalcontact/cancel_groupmsg_send", {"msgid": msgid})["errcode"] == 0
    assert run.post("externalcontact/cancel_groupmsg_send", {"msgid": msgid})["errcode"] == 41093


def test_mass_message_content_and_size_rules(make) -> None:
    run = make()
    base = {"sender": "emp00001", "text": {"content": "hi"}}
    assert run.post("externalcontact/add_msg_template", {**base, "text": {"content": "字" * 1334}})["errcode"] == 40058
    image = {"msgtype": "image", "image": {"pic_url": "https://example.com/a.png"}}
    assert run.post("externalcontact/add_msg_template", {**base, "attachments": [image] * 10})["errcode"] == 41064
    wrong = {"msgtype": "voice", "voice": {"media_id": "m"}}
    assert run.post("externalcontact/add_msg_template", {**base, "attachments": [wrong]})["errcode"] == 41065
    many = {**base, "external_userid": [f"wm{i}" for i in range(10_001)]}
    assert run.post("externalcontact/add_msg_template", many)["errcode"] == 40058
    chat_id = next(c.chat_id for c in run.company.chats.values())
    owner = run.company.chats[chat_id].owner
    group = {"chat_type": "group", "sender": owner, "chat_id_list": [chat_id], "text": {"content": "群发"}}
    assert run.post("externalcontact/add_msg_template", group)["errcode"] == 0


def test_new_friends_callbacks_decrypt_with_wechatpy_and_welcome_codes(make, receiver: Receiver) -> None:
    run = make()
    company = run.company
    company.callback_url = receiver.url
    way = run.post("externalcontact/add_contact_way", {"type": 1, "scene": 2, "state": "store_9", "user": ["emp00005"]})
    assert way["errcode"] == 0
    scenario = run.sim.emitter(company).new_friends(3, state="store_9").wait(10)
    assert len(receiver.received) == 3
    crypto = WeChatCrypto(company.token, company.aes_key, company.corpid)
    query, body = receiver.received[0]
    plain = crypto.decrypt_message(body, query["msg_signature"], query["timestamp"], query["nonce"])
    event = ElementTree.fromstring(plain)
    assert event.findtext("ChangeType") == "add_external_contact"
    assert event.findtext("UserID") == "emp00005"
    assert event.findtext("State") == "store_9"
    external_userid = event.findtext("ExternalUserID")
    follow_users = run.get("externalcontact/get", external_userid=external_userid)["follow_user"]
    assert follow_users[0]["state"] == "store_9"
    code = event.findtext("WelcomeCode")
    welcome = {"welcome_code": code, "text": {"content": "欢迎"}}
    assert run.post("externalcontact/send_welcome_msg", welcome)["errcode"] == 0
    assert run.post("externalcontact/send_welcome_msg", welcome)["errcode"] == 41051
    late = scenario.emitted[1].fields["WelcomeCode"]
    run.sim.clock.advance(21)
    assert run.post("externalcontact/send_welcome_msg", {**welcome, "welcome_code": late})["errcode"] == 41050
    stats = run.sim.stats(company.corpid)
    assert stats["welcome"]["delivered"] == 1
    assert stats["callbacks"]["delivered"] == 3


def test_callbacks_are_retried_three_times(make) -> None:
    failing = Receiver(status=500)
    try:
        run = make()
        run.company.callback_url = failing.url
        scenario = run.sim.emitter(run.company).employee_left("emp00006").wait(10)
        assert scenario.emitted[0].attempts == 4
        assert len(failing.received) == 4
        callbacks = run.sim.stats(run.company.corpid)["callbacks"]
        assert callbacks["retried"] == 3
        assert callbacks["failed"] == 1
    finally:
        failing.close()
    unassigned = run.post("externalcontact/get_unassigned_list", {"page_size": 1000})["info"]
    assert {entry["handover_userid"] for entry in unassigned} == {"emp00006"}
    customer = unassigned[0]["external_userid"]
    onjob = {"handover_userid": "emp00006", "takeover_userid": "emp00007", "external_userid": [customer]}
    assert run.post("externalcontact/transfer_customer", onjob)["errcode"] == 40003
    moved = run.post("externalcontact/resigned/transfer_customer", onjob)
    assert moved["customer"] == [{"external_userid": customer, "errcode": 0}]


def test_transfer_takes_24_hours_and_is_limited(make) -> None:
    run = make(transfer_refuse_share=0.0)
    customers = [f.external_userid for f in run.company.book.follows_of_user("emp00008")][:3]
    body = {"handover_userid": "emp00008", "takeover_userid": "emp00009", "external_userid": customers}
    started = run.post("externalcontact/transfer_customer", body)
    assert [c["errcode"] for c in started["customer"]] == [0, 0, 0]
    again = run.post("externalcontact/transfer_customer", body)
    assert [c["errcode"] for c in again["customer"]] == [40129] * 3
    pair = {"handover_userid": "emp00008", "takeover_userid": "emp00009"}
    assert {c["status"] for c in run.post("externalcontact/transfer_result", pair)["customer"]} == {2}
    run.sim.clock.advance(86_400)
    assert run.post("externalcontact/transfer_result", pair)["errcode"] == 42001, "the day outlived the token"
    run.token = run.gettoken()
    assert {c["status"] for c in run.post("externalcontact/transfer_result", pair)["customer"]} == {1}
    assert run.company.book.follow("emp00009", customers[0]) is not None
    over = {**body, "external_userid": [f"wm{i}" for i in range(101)]}
    assert run.post("externalcontact/transfer_customer", over)["errcode"] == 40058
    same = {**body, "takeover_userid": "emp00008"}
    assert run.post("externalcontact/transfer_customer", same)["errcode"] == 40130


def test_app_messages_over_30_per_minute_are_dropped_silently(make) -> None:
    run = make(clock_factor=0.001)
    message = {"touser": "emp00001", "msgtype": "text", "agentid": run.company.agent_id, "text": {"content": "提醒"}}
    answers = [run.post("message/send", message)["errcode"] for _ in range(31)]
    assert answers == [0] * 31
    app_messages = run.sim.stats(run.company.corpid)["app_messages"]
    assert (app_messages["delivered"], app_messages["dropped"], app_messages["duplicates"]) == (30, 1, 0)
    assert [m["content"] for m in app_messages["inbox"]] == ["提醒"] * 30
    checked = {**message, "touser": "emp00002", "enable_duplicate_check": 1, "duplicate_check_interval": 600}
    assert [run.post("message/send", checked)["errcode"] for _ in range(2)] == [0, 0]
    assert run.sim.stats(run.company.corpid)["app_messages"]["duplicates"] == 1
    assert run.post("message/send", {**message, "agentid": 1})["errcode"] == 40056
    assert run.post("message/send", {**message, "touser": "nobody"})["errcode"] == 81013


def test_wechatpy_enterprise_client_works_against_the_simulator(make) -> None:
    run = make()
    base = run.base + "/cgi-bin/"

    class SimClient(WeChatClient):
        API_BASE_URL = base

        def fetch_access_token(self) -> dict:
            return self._fetch_access_token(
                url=base + "gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret}
            )

    client = SimClient(run.company.corpid, run.company.secret)
    userids = client.external_contact.get_follow_user_list()["follow_user"]
    customers = client.external_contact.list(userids[0])["external_userid"]
    detail = client.external_contact.get(customers[0])
    assert detail["external_contact"]["external_userid"] == customers[0]
    created = client.external_contact.add_msg_template(
        {"external_userid": customers[:2], "sender": userids[0], "text": {"content": "hello"}}
    )
    assert created["msgid"].startswith("msg")


def test_control_endpoints(make, receiver: Receiver) -> None:
    run = make()
    control = httpx.Client(base_url=run.base + "/sim/")
    before = control.get("clock").json()["now"]
    assert control.post("clock", json={"advance_seconds": 3600}).json()["now"] >= before + 3600
    assert control.post("callback_url", json={"corpid": run.company.corpid, "url": receiver.url}).status_code == 200
    started = control.post("scenario", json={"corpid": run.company.corpid, "kind": "new_friends", "args": {"n": 2}})
    assert started.json()["planned"] == 2
    scenario_id = started.json()["scenario"]
    for _ in range(100):
        if control.get(f"scenario/{scenario_id}").json()["done"]:
            break
        threading.Event().wait(0.05)
    assert control.get(f"scenario/{scenario_id}").json()["delivered"] == 2
    stats = control.get("stats", params={"corpid": run.company.corpid}).json()
    assert stats["calls"]["gettoken"] == 1
    assert control.post("scenario", json={"corpid": run.company.corpid, "kind": "rm -rf"}).status_code == 400
    assert run.company.secret not in control.get("companies").text
    control.close()


def test_drift_changes_a_share_of_customers_without_callbacks(make) -> None:
    run = make(customers=1000)
    control = httpx.Client(base_url=run.base + "/sim/")
    before = {
        e: [(f.remark, sorted(f.tag_ids)) for f in run.company.book.follows_of_customer(e)]
        for e in run.company.book.customers
    }
    changed = control.post("drift", json={"corpid": run.company.corpid, "share": 0.05, "seed": 3}).json()["changed"]
    after = {
        e: [(f.remark, sorted(f.tag_ids)) for f in run.company.book.follows_of_customer(e)]
        for e in run.company.book.customers
    }
    differ = [e for e in before if before[e] != after[e]]
    assert len(differ) == changed
    assert 20 <= changed <= 80
    assert all(after[e][0][0] == "drift 3" for e in differ)
    assert control.post("drift", json={"corpid": run.company.corpid, "share": 2}).status_code == 400
    assert control.post("drift", json={"corpid": "nope", "share": 0.1}).status_code == 404
    assert not run.sim.stats(run.company.corpid)["callbacks"]
    control.close()


def test_answers_carry_every_documented_field_with_its_element_type(make) -> None:
    """Leaders, main departments, company customers' full names, remark mobiles, group admins and mass-message
    attachments are sometimes non-empty, with WeCom's element types."""
    run = make(customers=400)
    users = run.get("user/list", department_id="1", fetch_child="1")["userlist"]
    assert any(u["main_department"] != u["department"][0] for u in users)
    assert all(u["main_department"] in u["department"] for u in users)
    assert all(len(u["is_leader_in_dept"]) == len(u["department"]) for u in users)
    assert any(1 in u["is_leader_in_dept"] for u in users)
    assert any(u["direct_leader"] and all(isinstance(x, str) for x in u["direct_leader"]) for u in users)
    departments = run.get("department/list")["department"]
    assert any(d["department_leader"] and all(isinstance(x, str) for x in d["department_leader"]) for d in departments)

    company_customer = next(c for c in run.company.book.customers.values() if c.type == 2)
    contact = run.get("externalcontact/get", external_userid=company_customer.external_userid)["external_contact"]
    assert contact["corp_name"]
    assert contact["corp_full_name"].endswith("有限公司")
    listed = run.post("externalcontact/batch/get_by_user", {"userid_list": sorted(run.company.employees), "limit": 100})
    mobiles = [m for c in listed["external_contact_list"] for m in c["follow_info"]["remark_mobiles"]]
    assert mobiles
    assert all(isinstance(m, str) and m.isdigit() and len(m) == 11 for m in mobiles)

    admins = []
    for chat_id in run.company.chats:
        admins += run.post("externalcontact/groupchat/get", {"chat_id": chat_id})["group_chat"]["admin_list"]
    assert admins
    assert all(set(a) == {"userid"} and a["userid"] in run.company.employees for a in admins)

    link = {"msgtype": "link", "link": {"title": "新品", "url": "https://example.com/p"}}
    created = run.post(
        "externalcontact/add_msg_template",
        {"sender": "emp00001", "external_userid": ["wmnobody"], "text": {"content": "hi"}, "attachments": [link]},
    )
    assert created["errcode"] == 41048
    body = {"sender": "emp00001", "text": {"content": "hi"}, "attachments": [link]}
    assert run.post("externalcontact/add_msg_template", body)["errcode"] == 0
    run.sim.clock.advance(10)
    now = int(run.sim.clock.now())
    window = {"chat_type": "single", "start_time": now - 60, "end_time": now}
    page = run.post("externalcontact/get_groupmsg_list_v2", window)
    assert page["group_msg_list"][0]["attachments"] == [link]


def test_acquisition_links_and_their_limits(make) -> None:
    run = make(acquisition_quota=5, acquisition_links_max=2)
    users = {"user_list": ["emp00001"], "department_list": []}
    assert run.post("externalcontact/customer_acquisition/create_link", {"range": users})["errcode"] == 40058
    long_name = {"link_name": "字" * 31, "range": users}
    assert run.post("externalcontact/customer_acquisition/create_link", long_name)["errcode"] == 40058
    too_many = {"link_name": "A", "range": {"user_list": [f"u{i}" for i in range(501)]}}
    assert run.post("externalcontact/customer_acquisition/create_link", too_many)["errcode"] == 40058
    unknown = {"link_name": "A", "range": {"user_list": ["nobody"]}}
    assert run.post("externalcontact/customer_acquisition/create_link", unknown)["errcode"] == 40003
    created = run.post("externalcontact/customer_acquisition/create_link", {"link_name": "A", "range": users})
    link_id = created["link"]["link_id"]
    assert created["link"]["url"].startswith("https://work.weixin.qq.com/ca/")
    run.post("externalcontact/customer_acquisition/create_link", {"link_name": "B", "range": users})
    third = run.post("externalcontact/customer_acquisition/create_link", {"link_name": "C", "range": users})
    assert third["errcode"] == 41095
    assert run.post("externalcontact/customer_acquisition/list_link", {"limit": 101})["errcode"] == 40058
    listed = run.post("externalcontact/customer_acquisition/list_link", {"limit": 1})
    assert listed["link_id_list"] == [link_id]
    assert listed["next_cursor"]
    update = {"link_id": link_id, "skip_verify": False, "range": {"department_list": [1]}}
    assert run.post("externalcontact/customer_acquisition/update_link", update)["errcode"] == 0
    got = run.post("externalcontact/customer_acquisition/get", {"link_id": link_id})
    assert got["link"]["skip_verify"] is False
    assert got["range"] == {"user_list": [], "department_list": [1]}

    run.sim.emitter(run.company).link_friends(link_id, 2, customer_channel="ad1").wait(10)
    customers = run.post("externalcontact/customer_acquisition/customer", {"link_id": link_id})["customer_list"]
    assert [(c["state"], c["chat_status"]) for c in customers] == [("ad1", 0), ("ad1", 0)]
    too_big = {"link_id": link_id, "limit": 1001}
    assert run.post("externalcontact/customer_acquisition/customer", too_big)["errcode"] == 40058
    now = int(run.sim.clock.now()) + 1
    window = {"link_id": link_id, "start_time": now - 86_400, "end_time": now}
    statistic = run.post("externalcontact/customer_acquisition/statistic", window)
    assert (statistic["click_link_customer_cnt"], statistic["new_customer_cnt"]) == (2, 2)
    wide = {**window, "start_time": now - 31 * 86_400}
    assert run.post("externalcontact/customer_acquisition/statistic", wide)["errcode"] == 40058
    quota = run.get("externalcontact/customer_acquisition_quota")
    assert (quota["total"], quota["balance"]) == (5, 3)
    assert quota["quota_list"][0]["balance"] == 3
    assert run.post("externalcontact/customer_acquisition/delete_link", {"link_id": link_id})["errcode"] == 0
    assert run.post("externalcontact/customer_acquisition/get", {"link_id": link_id})["errcode"] == 40058


def test_moment_tasks_are_followed_to_the_end_within_their_limits(make) -> None:
    run = make(
        moment_creates_per_minute=2,
        moments_per_month=3,
        dispatch_seconds=5,
        confirm_delay=60,
        moment_like_share=1.0,
        moment_comment_share=1.0,
    )
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    files = {"media": ("a.png", png, "image/png")}
    params = {"access_token": run.token, "media_type": "image"}
    mass_media = run.http.post("media/upload", params={"access_token": run.token, "type": "image"}, files=files)
    with_mass_media = {"attachments": [{"msgtype": "image", "image": {"media_id": mass_media.json()["media_id"]}}]}
    assert run.post("externalcontact/add_moment_task", with_mass_media)["errcode"] == 40007
    wrong_kind = run.http.post(
        "media/upload_attachment", params={**params, "media_type": "file", "attachment_type": 1}, files=files
    )
    assert wrong_kind.json()["errcode"] == 40004
    image = run.http.post("media/upload_attachment", params={**params, "attachment_type": 1}, files=files).json()
    picture = {"msgtype": "image", "image": {"media_id": image["media_id"]}}
    link = {"msgtype": "link", "link": {"title": "新品", "url": "https://example.com/p"}}
    assert run.post("externalcontact/add_moment_task", {"attachments": [picture] * 10})["errcode"] == 41064
    assert run.post("externalcontact/add_moment_task", {"attachments": [picture, link]})["errcode"] == 41064
    assert run.post("externalcontact/add_moment_task", {"text": {"content": "字" * 2001}})["errcode"] == 40058

    visible = {"sender_list": {"user_list": ["emp00001", "emp00002", "nobody"]}, "external_contact_list": {}}
    body = {"text": {"content": "新品上市"}, "attachments": [picture], "visible_range": visible}
    assert run.post("externalcontact/add_moment_task", body)["errcode"] == 0
    assert run.post("externalcontact/add_moment_task", body)["errcode"] == 0
    assert run.post("externalcontact/add_moment_task", body)["errcode"] == 45009, "two creates a minute"
    run.sim.clock.advance(61)
    jobid = run.post("externalcontact/add_moment_task", body)["jobid"]
    assert run.get("externalcontact/get_moment_task_result", jobid=jobid)["status"] == 2
    run.sim.clock.advance(6)
    assert run.post("externalcontact/add_moment_task", body)["errcode"] == 41210, "three a month"

    first = run.company.moments.by_job[jobid]
    assert run.get("externalcontact/get_moment_task_result", jobid=jobid)["status"] == 3
    result = run.get("externalcontact/get_moment_task_result", jobid=jobid)["result"]
    assert result["invalid_sender_list"]["user_list"] == ["nobody"]
    moment = {"moment_id": result["moment_id"]}
    published_at = first.publish_at["emp00001"]
    run.sim.clock.advance(published_at - run.sim.clock.now() - 1)
    tasks = run.post("externalcontact/get_moment_task", moment)["task_list"]
    assert {t["userid"] for t in tasks} == {"emp00001", "emp00002"}
    assert run.post("externalcontact/get_moment_send_result", {**moment, "userid": "emp00001"})["errcode"] == 41062
    visible_to = run.post("externalcontact/get_moment_customer_list", {**moment, "userid": "emp00001"})
    friends = {f.external_userid for f in run.company.book.follows_of_user("emp00001")}
    assert {c["external_userid"] for c in visible_to["customer_list"]} == friends
    run.sim.clock.advance(200)
    sent = run.post("externalcontact/get_moment_send_result", {**moment, "userid": "emp00001"})["customer_list"]
    assert {c["external_userid"] for c in sent} == friends
    reactions = run.post("externalcontact/get_moment_comments", {**moment, "userid": "emp00001"})
    assert {c["external_userid"] for c in reactions["like_list"]} == friends
    assert all(isinstance(c["create_time"], int) for c in reactions["comment_list"])
    assert run.post("externalcontact/cancel_moment_task", moment)["errcode"] == 0
    too_big = {**moment, "userid": "emp00001", "limit": 5001}
    assert run.post("externalcontact/get_moment_send_result", too_big)["errcode"] == 40058
