"""Deterministic generation of a company from a seed and sizes (100,000 customers in about a second)."""

from __future__ import annotations

import random

from . import ids
from .acquisition import AcquisitionLinks
from .appmsg import AppMessageCaps
from .company import Company
from .config import SimConfig
from .massmsg import MassMessages
from .models import ChatMember, Customer, Department, Employee, Follow, GroupChat
from .moments import Moments
from .tags import TagBook
from .transfers import Transfers
from .welcome import WelcomeCodes

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
ADD_WAYS = (0, 1, 1, 1, 2, 3, 3, 5, 6, 8, 201)
YEAR = 365 * 86_400
TAGS_PER_GROUP = 10
DETAILS_SEED = 0x5EED_DE7A
ACQUISITION_SEED = 0xACC0_11AE
MOMENTS_SEED = 0x3033_E175


def person_name(rng: random.Random) -> str:
    """A plausible Chinese name."""
    r = rng.random
    name = SURNAMES[int(r() * len(SURNAMES))] + GIVEN[int(r() * len(GIVEN))]
    return name + GIVEN[int(r() * len(GIVEN))] if r() < 0.6 else name


def generate_company(
    config: SimConfig,
    *,
    seed: int,
    index: int,
    now: float,
    employees: int,
    customers: int,
    departments: int,
    tags: int,
    group_chats: int,
    group_members: int | None = None,
    callback_url: str | None,
    name: str | None,
) -> Company:
    """Build a company: departments, employees, ``tags`` corp tags in groups of ten, customers with 1–3 follow
    relations, group chats (of 3 to 40 members, or exactly ``group_members`` with the owner)."""
    rng = random.Random(seed)
    corpid = "ww" + ids.alnum(rng, 16).lower()
    company = Company(
        corpid=corpid,
        name=name or f"Sim Company {index}",
        agent_id=1_000_002 + index,
        secret=ids.alnum(rng, 43),
        token=ids.alnum(rng, 24),
        aes_key=ids.alnum(rng, 43),
        callback_url=callback_url,
        rng=random.Random(rng.getrandbits(64)),
        tags=TagBook(random.Random(rng.getrandbits(64))),
        welcome=WelcomeCodes(config.welcome_code_ttl, random.Random(rng.getrandbits(64))),
        mass=MassMessages(config, corpid, random.Random(rng.getrandbits(64))),
        transfers=Transfers(config, corpid),
        app_messages=AppMessageCaps(config, seats=employees),
        acquisition=AcquisitionLinks(
            random.Random(seed ^ ACQUISITION_SEED),
            config.acquisition_quota,
            config.acquisition_links_max,
            int(now) + YEAR,
        ),
        moments=Moments(config, random.Random(seed ^ MOMENTS_SEED)),
        join_way_room_full=config.join_way_room_full,
    )
    start = int(now)
    company.departments[1] = Department(1, company.name, 0, 100_000_000)
    for dept_id in range(2, departments + 2):
        parent = 1 if dept_id < 6 else rng.randrange(1, dept_id)
        company.departments[dept_id] = Department(dept_id, f"部门{dept_id}", parent, 100_000_000 - dept_id)
    dept_ids = list(company.departments)
    for n in range(employees):
        userid = f"emp{n:05d}"
        company.employees[userid] = Employee(
            userid=userid,
            name=person_name(rng),
            departments=[rng.choice(dept_ids)],
            position=rng.choice(("销售", "客户经理", "店长", "顾问")),
            gender=rng.choice((1, 2)),
        )
    for g, first in enumerate(range(0, tags, TAGS_PER_GROUP)):
        names = [(f"标签{g}-{t}", t) for t in range(min(TAGS_PER_GROUP, tags - first))]
        company.tags.add("", f"标签组{g}", g, names, start - YEAR)
    tag_ids = list(company.tags.tags)
    userids = list(company.employees)
    book = company.book
    r = rng.random
    states = ("", "", "", "store_01", "store_02", "ad_2024", "qr_event")
    tag_counts = (0, 0, 1, 1, 2, 3) if tag_ids else (0,)
    n_users, n_tags = len(userids), len(tag_ids)
    for _ in range(customers):
        external_userid = ids.external_userid(rng)
        is_wechat = r() < 0.92
        book.add_customer(
            Customer(
                external_userid=external_userid,
                name=person_name(rng),
                type=1 if is_wechat else 2,
                gender=int(r() * 3),
                unionid=("o" + ids.token(rng, 27)) if is_wechat else "",
                corp_name="" if is_wechat else "合作企业",
            )
        )
        if not n_users:
            continue
        draw = r()
        if draw < 0.85:
            followers = [userids[int(r() * n_users)]]
        else:
            followers = rng.sample(userids, min(2 if draw < 0.97 else 3, n_users))
        for userid in followers:
            count = tag_counts[int(r() * len(tag_counts))]
            tags = list(dict.fromkeys(tag_ids[int(r() * n_tags)] for _ in range(count)))
            book.add_follow(
                Follow(
                    userid=userid,
                    external_userid=external_userid,
                    createtime=start - 1 - int(r() * 2 * YEAR),
                    add_way=ADD_WAYS[int(r() * len(ADD_WAYS))],
                    state=states[int(r() * len(states))],
                    remark="" if r() < 0.7 else person_name(rng),
                    tag_ids=tags,
                    oper_userid=userid if r() < 0.5 else external_userid,
                )
            )
    external_ids = list(book.customers)
    for _ in range(group_chats if userids else 0):
        owner = rng.choice(userids)
        created = start - rng.randrange(1, YEAR)
        chat = GroupChat(ids.chat_id(rng), f"客户群{len(company.chats) + 1}", owner, created)
        chat.members.append(ChatMember(owner, 1, created, 1))
        size = rng.randrange(2, 40) if group_members is None else group_members - 1
        for external_userid in rng.sample(external_ids, min(len(external_ids), size)):
            chat.members.append(ChatMember(external_userid, 2, created + rng.randrange(1, 3600), 1, owner))
        chat.member_version = ids.token(rng, 32)
        company.chats[chat.chat_id] = chat
    _documented_details(company, random.Random(seed ^ DETAILS_SEED), start)
    return company


def _documented_details(company: Company, rng: random.Random, start: int) -> None:
    """Fields WeCom's documented answers carry, drawn from their own generator so the base company is unchanged:
    second departments with a main department that is not always the first, department leaders and direct leaders,
    remark mobiles, company customers' full names, group admins."""
    dept_ids = list(company.departments)
    employees = list(company.employees.values())
    for employee in employees:
        if len(dept_ids) > 1 and rng.random() < 0.25:
            extra = rng.choice([d for d in dept_ids if d not in employee.departments])
            employee.departments.append(extra)
            employee.main_department = rng.choice(employee.departments)
    for dept_id in dept_ids:
        members = [e for e in employees if e.main == dept_id]
        if members and rng.random() < 0.8:
            rng.choice(members).leader_in.add(dept_id)
    leader_of = {d: e.userid for e in employees for d in e.leader_in}
    for employee in employees:
        leader = leader_of.get(employee.main)
        if leader is not None and leader != employee.userid:
            employee.direct_leader = [leader]
    for customer in company.book.customers.values():
        if customer.type == 2:
            customer.corp_full_name = f"{customer.corp_name}{customer.name}有限公司"
    for follows in company.book.by_customer.values():
        for follow in follows.values():
            if rng.random() < 0.1:
                follow.remark_mobiles = [f"1{rng.randrange(30, 90)}{rng.randrange(10**8):08d}"]
    userids = [e.userid for e in employees]
    for chat in company.chats.values():
        others = [u for u in userids if u != chat.owner]
        if others and rng.random() < 0.3:
            admin = rng.choice(others)
            chat.members.append(ChatMember(admin, 1, chat.create_time + 1, 1, chat.owner))
            chat.admins.append(admin)
