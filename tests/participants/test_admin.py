import pytest
from django.urls import reverse

from tests.factories import (
    MembershipFactory,
    SiteFactory,
    TimepointFactory,
    UserFactory,
)


@pytest.mark.parametrize("model", ["study", "site", "timepoint", "staffmembership"])
def test_admin_lists_and_adds_each_set_up_model(client, db, model):
    site = SiteFactory()
    TimepointFactory(study=site.study)
    MembershipFactory(study=site.study)
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    assert (
        client.get(reverse(f"admin:participants_{model}_changelist")).status_code == 200
    )
    assert client.get(reverse(f"admin:participants_{model}_add")).status_code == 200
