import pytest

from chalicelib.domain import access
from chalicelib.domain.access import Principal


def test_a_sales_key_needs_its_employee_and_only_a_sales_key_has_one():
    access.check_key_role("sales", "zhangsan")
    access.check_key_role("admin", None)
    with pytest.raises(access.InvalidRole, match="employee_userid"):
        access.check_key_role("sales", None)
    with pytest.raises(access.InvalidRole, match="only a sales key"):
        access.check_key_role("viewer", "zhangsan")
    with pytest.raises(access.InvalidRole, match="one of"):
        access.check_key_role("root", None)


def test_a_sales_principal_sees_only_its_own_employee():
    sales = Principal("acme", "sales", "zhangsan", "0123456789ab")
    operator = Principal("acme", "operator", None, "0123456789ab")
    assert access.visible_employee(sales, "lisi") == "zhangsan"
    assert access.visible_employee(sales, None) == "zhangsan"
    assert access.visible_employee(operator, "lisi") == "lisi"


def test_role_groups():
    viewer = Principal("acme", "viewer", None, "0123456789ab")
    assert access.role_allowed(viewer, access.READERS)
    assert not access.role_allowed(viewer, access.WRITERS)
    assert access.ADMINS == ("admin",)
    assert set(access.EVERYONE) == set(access.ROLES)
