"""Material rules: what a material may hold, which bytes WeCom takes, when a media id is renewed."""

import pytest

from chalicelib.domain import materials as rules
from chalicelib.domain import wecom_limits as limits
from chalicelib.domain.broadcast_content import validate_content

PNG = rules.PNG_MAGIC + b"\x00" * 32
JPEG = rules.JPEG_MAGIC + b"\xe0" + b"\x00" * 32
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 32
HOUR = 3600


def spec(**fields):
    return rules.MaterialSpec(
        **({"type": "image", "title": "Spring sale", "source_url": "https://cdn.a.cn/x.png"} | fields)
    )


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"type": "link", "source_url": None, "url": "https://a.cn/p?q=1", "desc": "d", "picurl": "https://a.cn/c.jpg"},
        {"type": "miniprogram", "appid": "wx0123456789abcdef", "page": "pages/index.html?x=1"},
        {"type": "video", "source_url": "https://cdn.a.cn/v.mp4"},
        {"type": "file", "source_url": "https://1.2.3.4/brochure.pdf", "title": "x" * rules.TITLE_MAX_CHARS},
    ],
)
def test_valid_specs_pass(fields):
    assert rules.validate_spec(spec(**fields)).title


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"type": "gif"}, "type: must be one of image, link, miniprogram, video, file"),
        ({"title": "  "}, "title: required"),
        ({"title": "x" * (rules.TITLE_MAX_CHARS + 1)}, "title: longer than 64 characters"),
        (
            {"type": "link", "source_url": None, "url": "https://a.cn", "title": "标" * 43},
            "title: longer than 128 bytes",
        ),
        ({"type": "miniprogram", "appid": "wx0123456789abcdef", "page": "p.html", "title": "标" * 22}, "64 bytes"),
        ({"source_url": "http://cdn.a.cn/x.png"}, "source_url: must be an https URL"),
        ({"source_url": "https://127.0.0.1/x.png"}, "source_url: must name a public host"),
        ({"source_url": "https://10.1.2.3/x.png"}, "source_url: must name a public host"),
        ({"source_url": "https://[::1]/x.png"}, "source_url: must name a public host"),
        ({"source_url": "https://localhost/x.png"}, "source_url: must name a public host"),
        ({"source_url": "https://u:p@cdn.a.cn/x.png"}, "source_url: may not carry credentials"),
        ({"source_url": "https://cdn.a\x16.cn/x.png"}, "source_url: must be an https URL with a host and no spaces"),
        ({"source_url": "https://cdn.a.cn/x .png"}, "source_url: must be an https URL with a host and no spaces"),
        ({"source_url": "https://cdn.a.cn/" + "x" * rules.URL_MAX_BYTES}, "source_url: longer than 2048 bytes"),
        ({"source_url": None}, "source_url: required for a image material"),
        ({"type": "link", "source_url": None}, "url: required for a link material"),
        ({"url": "https://a.cn"}, "url: not used by a image material"),
        ({"type": "link", "url": "https://a.cn"}, "source_url: not used by a link material"),
        ({"type": "miniprogram", "appid": "wx12", "page": "p.html"}, "appid: must be a mini-program appid"),
        ({"type": "miniprogram", "appid": "wx0123456789abcdef", "page": "pages/index"}, "page: must contain .html"),
        ({"desc": "字" * 171}, "desc: longer than 512 bytes"),
    ],
)
def test_invalid_specs_name_the_field(fields, problem):
    with pytest.raises(rules.InvalidMaterial) as raised:
        rules.validate_spec(spec(**fields))
    assert any(problem in p for p in raised.value.problems), raised.value.problems


def test_every_problem_is_reported_at_once():
    with pytest.raises(rules.InvalidMaterial) as raised:
        rules.validate_spec(spec(type="miniprogram", title="", source_url="ftp://x", appid="nope", page="p"))
    assert len(raised.value.problems) == 4


def test_edits_are_checked_against_the_kind():
    rules.validate_edit("link", "标" * 42, None)
    with pytest.raises(rules.InvalidMaterial, match="128 bytes"):
        rules.validate_edit("link", "标" * 43, None)
    with pytest.raises(rules.InvalidMaterial, match="give title or desc"):
        rules.validate_edit("image", None, None)


@pytest.mark.parametrize(
    ("kind", "data", "name", "expected"),
    [
        ("image", PNG, "banner", ("image", "banner.png", "image/png")),
        ("image", JPEG, "a%20b.JPEG", ("image", "a_20b.JPEG", "image/jpeg")),
        ("miniprogram", JPEG, "", ("image", "image.jpg", "image/jpeg")),
        ("video", MP4, "clip.mp4", ("video", "clip.mp4", "video/mp4")),
        ("file", b"%PDF-1.7 hello", "说明.pdf", ("file", "__.pdf", "application/octet-stream")),
    ],
)
def test_media_is_named_and_typed_for_upload(kind, data, name, expected):
    checked = rules.check_media(kind, data, name)
    assert (checked.media_type, checked.filename, checked.content_type) == expected
    assert checked.size == len(data)


@pytest.mark.parametrize(
    ("kind", "data", "problem"),
    [
        ("image", b"GIF89a" + b"\x00" * 10, "an image must be JPG or PNG"),
        ("video", PNG, "a video must be MP4"),
        ("file", b"12345", "WeCom needs more than 5"),
        ("image", PNG + b"\x00" * limits.MEDIA_IMAGE_MAX_BYTES, "over the image limit"),
    ],
)
def test_media_wecom_would_refuse_is_refused(kind, data, problem):
    with pytest.raises(rules.InvalidMaterial, match=problem):
        rules.check_media(kind, data, "x")


def test_a_file_may_be_twice_the_size_of_an_image():
    assert rules.MAX_BYTES["file"] == 2 * rules.MAX_BYTES["image"] == 20 * 1024 * 1024


def test_media_ids_are_renewed_half_a_day_before_they_expire():
    uploaded = 1_700_000_000.0
    renew_at = uploaded + limits.MEDIA_TTL_SECONDS - rules.REFRESH_MARGIN_SECONDS
    assert rules.needs_upload(None, uploaded)
    assert not rules.needs_upload(uploaded, uploaded)
    assert not rules.needs_upload(uploaded, renew_at - 1)
    assert rules.needs_upload(uploaded, renew_at)
    assert renew_at - uploaded == 60 * HOUR


def test_an_unrenewable_media_id_is_used_until_its_last_hour():
    uploaded = 1_700_000_000.0
    end = uploaded + limits.MEDIA_TTL_SECONDS
    assert rules.usable_as_last_resort(uploaded, end - HOUR - 1)
    assert not rules.usable_as_last_resort(uploaded, end - HOUR)
    assert not rules.usable_as_last_resort(None, uploaded)


@pytest.mark.parametrize(
    ("kind", "fields", "expected"),
    [
        ("image", {}, {"msgtype": "image", "image": {"media_id": "M"}}),
        ("video", {}, {"msgtype": "video", "video": {"media_id": "M"}}),
        ("file", {}, {"msgtype": "file", "file": {"media_id": "M"}}),
        (
            "miniprogram",
            {"title": "Shop", "appid": "wx0123456789abcdef", "page": "p.html", "desc": None},
            {
                "msgtype": "miniprogram",
                "miniprogram": {"title": "Shop", "pic_media_id": "M", "appid": "wx0123456789abcdef", "page": "p.html"},
            },
        ),
        (
            "link",
            {"title": "T", "url": "https://a.cn", "desc": None, "picurl": "https://a.cn/p.png"},
            {"msgtype": "link", "link": {"title": "T", "url": "https://a.cn", "picurl": "https://a.cn/p.png"}},
        ),
    ],
)
def test_attachments_have_wecoms_shape_and_pass_the_content_check(kind, fields, expected):
    attachment = rules.attachment(kind, fields, None if kind == "link" else "M")
    assert attachment == expected
    assert validate_content({"attachments": [attachment]}).attachments == (expected,)


def test_an_upload_kind_without_media_id_is_a_programming_error():
    with pytest.raises(ValueError, match="needs its media id"):
        rules.attachment("image", {}, None)


def test_an_article_needs_a_body_takes_no_source_and_is_no_wecom_attachment():
    rules.validate_spec(rules.MaterialSpec(type="article", title="新品", body="<p>正文</p>"))
    with pytest.raises(rules.InvalidMaterial) as missing:
        rules.validate_spec(rules.MaterialSpec(type="article", title="新品", source_url="https://a.example.com/x"))
    assert missing.value.problems == [
        "source_url: not used by a article material",
        "body: required for a article material",
    ]
    with pytest.raises(rules.InvalidMaterial):
        rules.validate_spec(rules.MaterialSpec(type="article", title="长", body="字" * 20_001))
    with pytest.raises(rules.InvalidMaterial):
        rules.attachment("article", {"title": "新品"}, None)
