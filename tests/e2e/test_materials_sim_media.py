"""The simulator's media/upload over HTTP: multipart uploads, WeCom's type and size codes, 3-day media ids that
mass and welcome messages must carry."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from local.wecom_sim import SimConfig, Simulator
from local.wecom_sim.media import MEDIA_TTL_SECONDS

pytestmark = pytest.mark.e2e

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64


class Corp:
    """One company of a running simulator, with a token."""

    def __init__(self, sim: Simulator, base: str, name: str) -> None:
        self.sim = sim
        self.company = sim.add_company(employees=4, customers=20, name=name)
        self.http = httpx.Client(base_url=base + "/cgi-bin/", timeout=5)
        self.token = self.gettoken()

    def gettoken(self) -> str:
        """A fresh access token (one lives two simulated hours)."""
        answer = self.http.get("gettoken", params={"corpid": self.company.corpid, "corpsecret": self.company.secret})
        return answer.json()["access_token"]

    def upload(self, kind: str, data: bytes, filename: str = "a.bin") -> dict:
        files = {"media": (filename, data, "application/octet-stream")}
        return self.http.post("media/upload", params={"access_token": self.token, "type": kind}, files=files).json()

    def post(self, api: str, body: dict) -> dict:
        return self.http.post(api, params={"access_token": self.token}, json=body).json()

    def mass(self, attachment: dict) -> dict:
        sender = "emp00001"
        targets = [f.external_userid for f in self.company.book.follows_of_user(sender)][:2]
        body = {"sender": sender, "external_userid": targets, "attachments": [attachment]}
        return self.post("externalcontact/add_msg_template", body)


@pytest.fixture
def corps() -> Iterator[tuple[Corp, Corp]]:
    sim = Simulator(SimConfig(seed=5))
    base = sim.start()
    a, b = Corp(sim, base, "A"), Corp(sim, base, "B")
    yield a, b
    a.http.close()
    b.http.close()
    sim.stop()


def test_an_upload_gives_a_media_id_that_mass_messages_accept_for_three_days(corps) -> None:
    a, _ = corps
    uploaded = a.upload("image", PNG, "banner.png")
    assert uploaded["errcode"] == 0
    assert uploaded["type"] == "image"
    assert int(uploaded["created_at"]) == pytest.approx(a.sim.clock.now(), abs=2)
    image = {"msgtype": "image", "image": {"media_id": uploaded["media_id"]}}
    assert a.mass(image)["errcode"] == 0
    a.sim.clock.advance(MEDIA_TTL_SECONDS - 60)
    a.token = a.gettoken()
    assert a.mass(image)["errcode"] == 0
    a.sim.clock.advance(120)
    assert a.mass(image)["errcode"] == 40007
    assert a.sim.stats(a.company.corpid)["calls"]["media/upload"] == 1


def test_media_ids_belong_to_one_corp_and_unknown_ones_are_refused(corps) -> None:
    a, b = corps
    video = a.upload("video", MP4, "clip.mp4")["media_id"]
    assert a.mass({"msgtype": "video", "video": {"media_id": video}})["errcode"] == 0
    assert b.mass({"msgtype": "video", "video": {"media_id": video}})["errcode"] == 40007
    cover = {"title": "Shop", "pic_media_id": "made-up", "appid": "wx0123456789abcdef", "page": "p.html"}
    assert a.mass({"msgtype": "miniprogram", "miniprogram": cover})["errcode"] == 40007
    assert a.mass({"msgtype": "image", "image": {"pic_url": "https://cdn.example.com/a.png"}})["errcode"] == 0


def test_a_welcome_message_with_a_bad_media_id_leaves_its_code_usable(corps) -> None:
    a, _ = corps
    follow = next(iter(a.company.book.follows_of_user("emp00001")))
    code = a.company.welcome.issue("emp00001", follow.external_userid, a.sim.clock.now()).code
    bad = {"welcome_code": code, "attachments": [{"msgtype": "file", "file": {"media_id": "expired"}}]}
    assert a.post("externalcontact/send_welcome_msg", bad)["errcode"] == 40007
    media_id = a.upload("file", b"%PDF-1.7 brochure", "brochure.pdf")["media_id"]
    good = {"welcome_code": code, "attachments": [{"msgtype": "file", "file": {"media_id": media_id}}]}
    assert a.post("externalcontact/send_welcome_msg", good)["errcode"] == 0


@pytest.mark.parametrize(
    ("kind", "data", "errcode"),
    [
        ("gif", PNG, 40004),
        ("image", b"GIF89a" + b"\x00" * 20, 40005),
        ("video", PNG, 40005),
        ("image", b"\x89PNG", 40009),
        ("file", b"", 44001),
        ("image", b"\x89PNG\r\n\x1a\n" + b"\x00" * (10 * 1024 * 1024), 40009),
    ],
)
def test_uploads_wecom_refuses(corps, kind: str, data: bytes, errcode: int) -> None:
    a, _ = corps
    assert a.upload(kind, data)["errcode"] == errcode


def test_an_upload_without_the_media_field_is_refused(corps) -> None:
    a, _ = corps
    params = {"access_token": a.token, "type": "image"}
    no_field = a.http.post("media/upload", params=params, files={"file": ("a.png", PNG, "image/png")})
    assert no_field.json()["errcode"] == 41005
    not_a_form = a.http.post("media/upload", params=params, content=PNG)
    assert not_a_form.json()["errcode"] == 41005
