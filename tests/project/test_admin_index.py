import pytest

from enrollment import roles
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_clerk_home_links_to_daily_work(client, regions):
    clerk = make_user(roles=(roles.CLERK,), regions=(regions["a"],))
    client.force_login(clerk)
    html = client.get("/admin/").content.decode()
    assert 'id="daily-work"' in html
    for url in ["/claims/cases/", "/claims/cases/register/", "/claims/batches/", "/admin/claims/claim/eligibility/",
                "/admin/enrollment/enrollment/coverage/", "/enrollment/imports/"]:
        assert f'href="{url}"' in html, url


def test_liaison_home_shows_only_what_the_role_may_do(client, regions):
    liaison = make_user(roles=(roles.LIAISON,), regions=(regions["a"],))
    client.force_login(liaison)
    html = client.get("/admin/").content.decode()
    assert 'href="/enrollment/imports/"' in html
    assert 'href="/claims/cases/"' not in html
    assert 'href="/claims/cases/register/"' not in html
