"""The material library on moto and the WeCom simulator: upload at creation, resolve for a send, lazy renewal of
3-day media ids on the simulator's clock, precise errors, usage counts, and the admin API over it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import httpx
import pytest

from chalicelib.config import get_settings
from chalicelib.domain import materials as rules
from chalicelib.domain.broadcast_content import InvalidContent
from chalicelib.domain.wecom_limits import MEDIA_TTL_SECONDS
from chalicelib.services import materials
from chalicelib.services.materials import (
    MaterialLibrary,
    MaterialUnavailable,
    record_use,
    resolve_attachments,
)
from chalicelib.services.public_fetch import public_client
from chalicelib.services.tenant_wecom import process_access_tokens
from chalicelib.store.materials import MaterialNotFound
from chalicelib.store.tenants import get_app_credentials
from chalicelib.wecom.client import WeComClient
from local.wecom_sim import SimConfig, Simulator
from tests.tenancy import call, create_tenant

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")

PNG = rules.PNG_MAGIC + b"\x07" * 256
JPEG = rules.JPEG_MAGIC + b"\xe0" + b"\x07" * 256
HOUR = 3600
RENEW_AFTER = MEDIA_TTL_SECONDS - rules.REFRESH_MARGIN_SECONDS


class Sources:
    """The admins' CDN: https URLs answered from a dict (404 for the rest), counting fetches. It sits behind the
    public-address guard: its host names resolve to a public address, and it sees each request pinned to that address
    with the name in the Host header and as the TLS server name."""

    ADDRESS = "93.184.215.14"

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.fetches: list[str] = []
        self.http = public_client(httpx.MockTransport(self._answer), resolver=self._resolve, timeout=5)

    def _resolve(self, host: str, port: int) -> list[str]:
        if not host.endswith(".example.com"):
            raise OSError("unknown host")
        return [self.ADDRESS]

    def _answer(self, request: httpx.Request) -> httpx.Response:
        assert request.url.host == self.ADDRESS
        assert request.extensions["sni_hostname"] == request.headers["host"]
        url = f"https://{request.headers['host']}{request.url.raw_path.decode()}"
        self.fetches.append(url)
        if url.endswith("/moved.png"):
            return httpx.Response(302, headers={"location": "https://cdn.example.com/banner.png"})
        if url not in self.files:
            return httpx.Response(404)
        return httpx.Response(200, content=self.files[url])


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = Simulator(SimConfig(seed=7))
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def sources(monkeypatch) -> Sources:
    fake = Sources()
    fake.files["https://cdn.example.com/banner.png"] = PNG
    fake.files["https://cdn.example.com/cover.jpg"] = JPEG
    monkeypatch.setattr(materials, "source_http", lambda: fake.http)
    return fake


@pytest.fixture
def tenant(api, sim, monkeypatch) -> dict:
    """Tenant `shop` whose WeCom app is a simulator company; the library talks to the simulator."""
    company = sim.add_company(employees=4, customers=30, name="Shop")
    created = create_tenant(
        api, tenant_id="shop", corp_id=company.corpid, agent_id=company.agent_id, app_secret=company.secret
    )
    settings = dataclasses.replace(get_settings(), wecom_base_url=sim.base_url)

    def wecom(tenant_id: str) -> WeComClient:
        return WeComClient(lambda: get_app_credentials(tenant_id), process_access_tokens(settings), settings)

    monkeypatch.setattr(materials, "tenant_app", wecom)
    return {"token": created["admin_key"]["token"], "company": company, "wecom": wecom("shop")}


def image_spec(url: str = "https://cdn.example.com/banner.png", title: str = "Banner") -> rules.MaterialSpec:
    return rules.MaterialSpec(type="image", title=title, source_url=url)


def uploads(sim: Simulator, corpid: str) -> int:
    """Successful media/upload calls (a call answered 42001 and repeated with a new token counts once)."""
    return sim.stats(corpid)["codes"].get("media/upload", {}).get("0", 0)


def test_created_materials_resolve_to_attachments_wecom_accepts(tenant, sim, sources) -> None:
    library = MaterialLibrary("shop", clock=sim.clock.now)
    image = library.create(image_spec())
    mini = library.create(
        rules.MaterialSpec(
            type="miniprogram",
            title="Shop",
            source_url="https://cdn.example.com/cover.jpg",
            appid="wx0123456789abcdef",
            page="pages/index.html",
        )
    )
    link = library.create(rules.MaterialSpec(type="link", title="Sale", url="https://shop.example.com/sale"))
    assert image.media_bytes == len(PNG)
    assert image.uploaded_at is not None
    assert link.media_bytes is None
    assert uploads(sim, tenant["company"].corpid) == 2
    inline = {"msgtype": "image", "image": {"pic_url": "https://cdn.example.com/p.png"}}
    refs = [
        {"material_id": image.material_id},
        inline,
        {"material_id": link.material_id},
        {"material_id": mini.material_id},
    ]
    attachments = resolve_attachments("shop", refs, library=library)
    stored = library.get(image.material_id)
    assert attachments == [
        {"msgtype": "image", "image": {"media_id": stored.media_id}},
        inline,
        {"msgtype": "link", "link": {"title": "Sale", "url": "https://shop.example.com/sale"}},
        {
            "msgtype": "miniprogram",
            "miniprogram": {
                "title": "Shop",
                "pic_media_id": library.get(mini.material_id).media_id,
                "appid": "wx0123456789abcdef",
                "page": "pages/index.html",
            },
        },
    ]
    follows = [f.external_userid for f in tenant["company"].book.follows_of_user("emp00001")][:3]
    body = {"sender": "emp00001", "external_userid": follows, "text": {"content": "上新"}, "attachments": attachments}
    assert tenant["wecom"].post("externalcontact/add_msg_template", body, retry_safe=False)["msgid"]
    assert uploads(sim, tenant["company"].corpid) == 2, "fresh media ids are not uploaded again"


def test_media_ids_are_renewed_lazily_and_kept_while_valid_when_the_source_is_gone(tenant, sim, sources) -> None:
    library = MaterialLibrary("shop", clock=sim.clock.now)
    image = library.create(image_spec())
    first = library.get(image.material_id).media_id
    sim.clock.advance(RENEW_AFTER - 60)
    assert (
        resolve_attachments("shop", [{"material_id": image.material_id}], library=library)[0]["image"]["media_id"]
        == first
    )
    sim.clock.advance(120)
    renewed = resolve_attachments("shop", [{"material_id": image.material_id}], library=library)[0]["image"]["media_id"]
    assert renewed != first
    assert library.get(image.material_id).media_id == renewed
    assert library.get(image.material_id).uploaded_at == pytest.approx(sim.clock.now(), abs=5)
    assert uploads(sim, tenant["company"].corpid) == 2
    welcome = tenant["company"].welcome.issue("emp00001", "wm-new", sim.clock.now()).code
    sent = {"welcome_code": welcome, "attachments": [{"msgtype": "image", "image": {"media_id": renewed}}]}
    assert tenant["wecom"].post("externalcontact/send_welcome_msg", sent, retry_safe=False)["errcode"] == 0
    del sources.files["https://cdn.example.com/banner.png"]
    sim.clock.advance(RENEW_AFTER)
    again = resolve_attachments("shop", [{"material_id": image.material_id}], library=library)
    assert again[0]["image"]["media_id"] == renewed, "the old id still has hours to live"
    sim.clock.advance(rules.REFRESH_MARGIN_SECONDS - rules.LAST_RESORT_SECONDS)
    with pytest.raises(MaterialUnavailable, match="source_url answered HTTP 404"):
        resolve_attachments("shop", [{"material_id": image.material_id}], library=library)


def test_unknown_and_other_tenants_ids_are_named_together(api, tenant, sim, sources) -> None:
    create_tenant(api, tenant_id="other", corp_id=tenant["company"].corpid, app_secret=tenant["company"].secret)
    theirs = MaterialLibrary("other").create(rules.MaterialSpec(type="link", title="T", url="https://x.example.com"))
    mine = MaterialLibrary("shop").create(rules.MaterialSpec(type="link", title="M", url="https://y.example.com"))
    refs = [{"material_id": mine.material_id}, {"material_id": theirs.material_id}, {"material_id": "nope"}]
    with pytest.raises(MaterialNotFound) as raised:
        resolve_attachments("shop", refs)
    assert raised.value.material_ids == [theirs.material_id, "nope"]
    assert resolve_attachments("other", [{"material_id": theirs.material_id}])[0]["link"]["title"] == "T"


@pytest.mark.parametrize(
    ("refs", "problem"),
    [
        ([{"material_id": "0" * 20, "extra": 1}], "attachments[0]: a material reference is"),
        ([{"title": "no msgtype"}], "attachments[0]: give material_id or an inline attachment"),
        ([{"msgtype": "link", "link": {"title": "t"}}], "attachments[0].link.url: required"),
        ([{"msgtype": "image", "image": {"pic_url": "https://a.cn/p.png"}}] * 10, "attachments: 10 given, at most 9"),
    ],
)
def test_bad_inline_attachments_are_refused_precisely(aws, refs, problem) -> None:
    with pytest.raises(InvalidContent) as raised:
        resolve_attachments("shop", refs)
    assert any(problem in p for p in raised.value.problems), raised.value.problems
    assert resolve_attachments("shop", []) == []


def test_uses_are_counted_once_per_message(tenant, sources) -> None:
    library = MaterialLibrary("shop")
    link = library.create(rules.MaterialSpec(type="link", title="T", url="https://x.example.com"))
    refs = [{"material_id": link.material_id}, {"msgtype": "image", "image": {"pic_url": "https://a.cn/p.png"}}]
    assert record_use("shop", "msg-1", refs) == 1
    assert record_use("shop", "msg-1", refs) == 0
    assert record_use("shop", "msg-2", [*refs, {"material_id": "f" * 20}]) == 1
    assert library.get(link.material_id).use_count == 2


def test_admin_api_create_list_get_update_delete(api, tenant, sim, sources) -> None:
    token = tenant["token"]
    link = {"type": "link", "title": "Sale", "url": "https://shop.example.com/sale", "desc": "50% off"}
    created = call(api, "POST", "/v1/materials", token, link)
    assert created.status_code == 201, created.body
    link_id = created.json_body["material"]["material_id"]
    images = []
    for n in range(3):
        response = call(
            api,
            "POST",
            "/v1/materials",
            token,
            {"type": "image", "title": f"Banner {n}", "source_url": "https://cdn.example.com/banner.png"},
        )
        assert response.status_code == 201, response.body
        images.append(response.json_body["material"])
    assert images[0]["media_bytes"] == len(PNG)
    assert "media_id" not in images[0]
    first = call(api, "GET", "/v1/materials?type=image&limit=2", token).json_body
    assert [m["title"] for m in first["materials"]] == ["Banner 2", "Banner 1"]
    rest = call(api, "GET", f"/v1/materials?type=image&limit=2&cursor={first['next_cursor']}", token).json_body
    assert [m["title"] for m in rest["materials"]] == ["Banner 0"]
    assert rest["next_cursor"] is None
    everything = call(api, "GET", "/v1/materials", token).json_body["materials"]
    assert [m["material_id"] for m in everything][-1] == link_id
    edited = call(api, "PATCH", f"/v1/materials/{link_id}", token, {"title": "Big sale", "desc": ""})
    assert edited.status_code == 200
    assert edited.json_body["material"]["title"] == "Big sale"
    assert "desc" not in edited.json_body["material"]
    assert call(api, "GET", f"/v1/materials/{link_id}", token).json_body["material"]["title"] == "Big sale"
    assert call(api, "DELETE", f"/v1/materials/{link_id}", token).status_code == 200
    assert call(api, "GET", f"/v1/materials/{link_id}", token).status_code == 404
    assert call(api, "DELETE", f"/v1/materials/{link_id}", token).status_code == 404
    actions = [e["action"] for e in call(api, "GET", "/v1/audit", token).json_body["entries"]]
    assert actions[:3] == ["material.delete", "material.update", "material.create"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"type": "image", "title": "x", "source_url": "http://cdn.example.com/banner.png"}, 400, "must match"),
        ({"type": "image", "title": "x"}, 400, "source_url: required for a image material"),
        ({"type": "image", "title": "x", "source_url": "https://10.0.0.8/a.png"}, 400, "must name a public host"),
        ({"type": "link", "title": "标" * 43, "url": "https://a.cn"}, 400, "title: longer than 128 bytes"),
        ({"type": "gif", "title": "x"}, 400, "field 'type' must be one of"),
        ({"type": "image", "title": "x", "source_url": "https://cdn.example.com/gone.png"}, 422, "HTTP 404"),
        ({"type": "image", "title": "x", "source_url": "https://cdn.example.com/moved.png"}, 422, "redirects"),
        ({"type": "video", "title": "x", "source_url": "https://cdn.example.com/banner.png"}, 400, "must be MP4"),
    ],
)
def test_admin_api_refuses_bad_materials_precisely(api, tenant, sources, body, status, message) -> None:
    response = call(api, "POST", "/v1/materials", tenant["token"], body)
    assert response.status_code == status, response.body
    assert message in response.json_body["Message"]


def test_admin_api_reports_wecom_refusals_and_roles(api, tenant, sim, sources) -> None:
    token = tenant["token"]
    viewer = call(api, "POST", "/v1/api-keys", token, {"role": "viewer"}).json_body["token"]
    link = {"type": "link", "title": "Sale", "url": "https://shop.example.com/sale"}
    assert call(api, "POST", "/v1/materials", viewer, link).status_code == 403
    assert call(api, "GET", "/v1/materials", viewer).status_code == 200
    tenant["company"].secret = "rotated-on-the-wecom-side"
    image = {"type": "image", "title": "x", "source_url": "https://cdn.example.com/banner.png"}
    refused = call(api, "POST", "/v1/materials", token, image)
    assert refused.status_code == 502
    assert refused.json_body["Message"] == "WeCom rejected the tenant's app credentials (errcode 40001)"
    assert call(api, "GET", "/v1/materials?type=gif", token).status_code == 400
    assert call(api, "GET", "/v1/materials?cursor=zzz", token).status_code == 400
    assert call(api, "PATCH", f"/v1/materials/{'0' * 20}", token, {"title": "t"}).status_code == 404


def test_admin_api_never_reaches_another_tenants_material(api, tenant, sources) -> None:
    other = create_tenant(api, tenant_id="other", corp_id=tenant["company"].corpid)["admin_key"]["token"]
    link = {"type": "link", "title": "label-of-other", "url": "https://other.example.com"}
    theirs = call(api, "POST", "/v1/materials", other, link).json_body["material"]["material_id"]
    for method, body in (("GET", None), ("PATCH", {"title": "taken"}), ("DELETE", None)):
        response = call(api, method, f"/v1/materials/{theirs}", tenant["token"], body)
        assert response.status_code == 404, (method, response.body)
        assert "label-of-other" not in response.body.decode()
    assert call(api, "GET", "/v1/materials", tenant["token"]).json_body["materials"] == []
    assert call(api, "GET", f"/v1/materials/{theirs}", other).json_body["material"]["title"] == "label-of-other"
