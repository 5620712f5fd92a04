"""The capability table decides who may do what, and nothing else does.

``studyportal.access.CAPABILITIES`` is read by ``can``, the view decorator, the
scoped querysets and the templates' ``can``; these tests hold each of them to
the table, and keep role checks from growing back elsewhere.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template import Context, Template
from django.test import RequestFactory

from participants.models import Role
from studyportal import access
from tests.factories import (
    MembershipFactory,
    SiteFactory,
    StudyFactory,
    UserFactory,
    clinic_staff,
    coordinator,
)

ROOT = Path(__file__).resolve().parents[2]


def member(role: str, study, site=None):
    return MembershipFactory(study=study, site=site, role=role).user


# ---------------------------------------------------------------------------
# can()


@pytest.mark.parametrize("capability", sorted(access.CAPABILITIES))
@pytest.mark.parametrize("role", Role.values)
def test_it_grants_a_capability_through_exactly_the_roles_the_table_lists(
    db, capability, role
):
    # Every study allows what a study may allow, so only the roles decide here.
    study = StudyFactory(coordinators_edit_setup=True)
    user = member(role, study, SiteFactory(study=study))
    assert access.can(user, capability) == (
        role in access.CAPABILITIES[capability].roles
    )


@pytest.mark.parametrize("capability", sorted(access.CAPABILITIES))
def test_it_grants_administrators_every_capability_in_every_study(db, capability):
    study = StudyFactory()
    admin = UserFactory(is_superuser=True, is_staff=True)
    assert access.can(admin, capability)
    assert access.can(admin, capability, study=study)
    assert access.can(admin, capability, site=SiteFactory(study=study))


def test_it_grants_nothing_to_visitors_inactive_users_or_users_without_a_role(db):
    site = SiteFactory()
    inactive = clinic_staff(site)
    inactive.is_active = False
    inactive.save()
    for user in (AnonymousUser(), inactive, UserFactory(), None):
        assert access.capabilities_of(user) == frozenset()
        assert not access.can(user, "follow_up", site=site)


def test_a_site_membership_reaches_its_site_and_a_study_wide_one_every_site(db):
    study, other_study = StudyFactory(), StudyFactory()
    leeds, york = SiteFactory(study=study), SiteFactory(study=study)
    foreign = SiteFactory(study=other_study)
    staff, coordinating = clinic_staff(leeds), coordinator(study)
    assert access.can(staff, "follow_up", site=leeds)
    assert not access.can(staff, "follow_up", site=york)
    assert access.can(coordinating, "follow_up", site=york)
    assert not access.can(coordinating, "follow_up", site=foreign)
    assert access.can(coordinating, "follow_up", study=study)
    assert not access.can(coordinating, "follow_up", study=other_study)


def test_a_capability_held_in_one_study_is_not_held_in_another(db):
    analysed, coordinated = StudyFactory(), StudyFactory()
    user = member(Role.INVESTIGATOR, analysed)
    MembershipFactory(user=user, study=coordinated, role=Role.COORDINATOR)
    assert access.can(user, "analyse")
    assert access.can(user, "analyse", study=analysed)
    assert not access.can(user, "analyse", study=coordinated)
    assert list(access.studies_for(user, "analyse")) == [analysed]
    assert list(access.studies_for(user, "download_tracker")) == [coordinated]


def test_coordinators_edit_the_set_up_only_of_studies_that_allow_it(db):
    allowing = StudyFactory(coordinators_edit_setup=True)
    closed = StudyFactory(coordinators_edit_setup=False)
    user = coordinator(allowing)
    MembershipFactory(user=user, study=closed, role=Role.COORDINATOR)
    assert access.can(user, "edit_study_setup", study=allowing)
    assert not access.can(user, "edit_study_setup", study=closed)
    assert not access.can(user, "edit_study_setup", site=SiteFactory(study=closed))
    assert access.can(user, "edit_study_setup")
    assert list(access.studies_for(user, "edit_study_setup")) == [allowing]


def test_coordinators_of_a_closed_study_and_other_roles_never_edit_the_set_up(db):
    closed = StudyFactory(coordinators_edit_setup=False)
    allowing = StudyFactory(coordinators_edit_setup=True)
    assert not access.can(coordinator(closed), "edit_study_setup")
    for role in (Role.CLINIC_STAFF, Role.INVESTIGATOR, Role.QUALITATIVE):
        user = member(role, allowing, SiteFactory(study=allowing))
        assert not access.can(user, "edit_study_setup", study=allowing)
    admin = UserFactory(is_superuser=True)
    assert access.can(admin, "edit_study_setup", study=closed)


def test_it_refuses_a_capability_the_table_does_not_name(db):
    user = coordinator(StudyFactory())
    with pytest.raises(access.UnknownCapability):
        access.can(user, "analyze")
    with pytest.raises(access.UnknownCapability):
        access.sites_for(user, "folow_up")
    with pytest.raises(access.UnknownCapability):
        access.capability_required("see_everything")


def test_it_reads_every_capability_of_a_user_in_one_query(
    db, django_assert_num_queries
):
    study = StudyFactory(coordinators_edit_setup=True)
    user = coordinator(study)
    MembershipFactory(user=user, study=study, role=Role.QUALITATIVE)
    with django_assert_num_queries(1):
        held = access.capabilities_of(user)
    expected = {
        name
        for name, grant in access.CAPABILITIES.items()
        if grant.roles & {Role.COORDINATOR, Role.QUALITATIVE}
    }
    assert held == expected
    assert "edit_study_setup" in held


# ---------------------------------------------------------------------------
# The view decorator


def test_the_decorator_lets_in_holders_and_refuses_everyone_else(db):
    study = StudyFactory()

    @access.capability_required("analyse")
    def view(request):
        return HttpResponse("ok")

    request = RequestFactory().get("/")
    request.user = member(Role.INVESTIGATOR, study)
    assert view(request).status_code == 200
    request.user = coordinator(study)
    with pytest.raises(PermissionDenied):
        view(request)
    request.user = AnonymousUser()
    assert view(request).status_code == 302
    assert view.required_capability == "analyse"


# ---------------------------------------------------------------------------
# Templates


def test_templates_ask_can_by_capability(db):
    study = StudyFactory()
    template = Template(
        "{% if can.analyse %}runs{% endif %}|{% if can.follow_up %}list{% endif %}"
    )
    investigator = member(Role.INVESTIGATOR, study)
    context = Context({"can": access.TemplateCapabilities(investigator)})
    assert template.render(context) == "runs|"
    context = Context({"can": access.TemplateCapabilities(AnonymousUser())})
    assert template.render(context) == "|"


def test_a_template_naming_no_capability_fails_loudly(db):
    template = Template("{% if can.analyze %}runs{% endif %}")
    user = UserFactory(is_superuser=True)
    with pytest.raises(access.UnknownCapability):
        template.render(Context({"can": access.TemplateCapabilities(user)}))


def test_every_capability_a_template_names_is_in_the_table():
    named = {
        (path.relative_to(ROOT).as_posix(), name)
        for path in (ROOT / "templates").rglob("*.html")
        for name in re.findall(r"\bcan\.(\w+)", path.read_text())
    }
    assert named, "no template asks can; the pattern above is out of date"
    unknown = sorted(
        f"{where}: can.{name}"
        for where, name in named
        if name not in access.CAPABILITIES
    )
    assert unknown == []


def test_no_template_tests_roles():
    testing_roles = sorted(
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "templates").rglob("*.html")
        if "user_roles" in path.read_text()
    )
    assert testing_roles == []


# ---------------------------------------------------------------------------
# No role checks outside the table

PACKAGES = ("studyportal", "participants", "instruments", "analysis")
# Where roles are defined, granted, administered or seeded.
MAY_NAME_ROLES = {"studyportal/access.py", "studyportal/demo.py"}
MAY_NAME_ROLES_BY_FILE_NAME = {"models.py", "admin.py", "factories.py"}
QUERY_METHODS = {"filter", "exclude", "get", "Q"}


def _names_a_role(node: ast.AST) -> bool:
    """Whether ``node`` mentions a role member, the admin pseudo-role or roles_of."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute):
            base = sub.value
            on_role = (isinstance(base, ast.Name) and base.id == "Role") or (
                isinstance(base, ast.Attribute) and base.attr == "Role"
            )
            if (on_role and sub.attr.isupper()) or sub.attr in ("ADMIN", "roles_of"):
                return True
        if isinstance(sub, ast.Name) and sub.id in ("ADMIN", "roles_of"):
            return True
    return False


def _query_keyword(node: ast.Call, keyword: ast.keyword) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return bool(keyword.arg) and (
        keyword.arg == "roles"
        or (name in QUERY_METHODS and "role" in keyword.arg.split("__"))
    )


def role_checks(source: str) -> list[int]:
    """Lines that decide something by role: comparisons, role filters, role tuples."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            if any(_names_a_role(part) for part in (node.left, *node.comparators)):
                found.append(node.lineno)
        elif isinstance(node, ast.BinOp) and isinstance(
            node.op, ast.BitAnd | ast.BitOr | ast.Sub
        ):
            if _names_a_role(node.left) or _names_a_role(node.right):
                found.append(node.lineno)
        elif isinstance(node, ast.Call):
            if any(
                _query_keyword(node, keyword) and _names_a_role(keyword.value)
                for keyword in node.keywords
            ):
                found.append(node.lineno)
        elif isinstance(node, ast.Tuple | ast.List | ast.Set) and node.elts:
            # A list of roles is a rule about roles, whatever it is called.
            if all(_names_a_role(element) for element in node.elts):
                found.append(node.lineno)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(
                isinstance(t, ast.Name) and t.id.endswith("_ROLES") for t in targets
            ):
                found.append(node.lineno)
    return sorted(set(found))


def _application_modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            where = path.relative_to(ROOT).as_posix()
            if (
                "migrations" in path.parts
                or where in MAY_NAME_ROLES
                or path.name in MAY_NAME_ROLES_BY_FILE_NAME
            ):
                continue
            yield where, path


def test_no_module_outside_the_table_decides_by_role():
    offenders = {
        where: lines
        for where, path in _application_modules()
        if (lines := role_checks(path.read_text()))
    }
    assert offenders == {}, (
        "Ask studyportal.access (can, capability_required, sites_for with a "
        f"capability) instead of checking roles in: {offenders}"
    )


@pytest.mark.parametrize(
    "source",
    [
        "ok = Role.CLINIC_STAFF in access.roles_of(user)",
        "ok = role == Role.COORDINATOR",
        "ok = role in (access.Role.COORDINATOR, access.ADMIN)",
        "ok = bool(roles_of(user) & {Role.QUALITATIVE})",
        "ok = roles_of(user) and 'x' in roles_of(user)",
        "sites = access.sites_for(user, roles=(Role.INVESTIGATOR,))",
        "people = StaffMembership.objects.filter(role=Role.QUALITATIVE)",
        "people = users.filter(memberships__role__in=[Role.COORDINATOR])",
        "LOG_ROLES = (Role.COORDINATOR,)",
        "STAFF_ROLES: tuple = ()",
        "FOLLOWING_UP = (access.Role.CLINIC_STAFF, access.Role.COORDINATOR)",
    ],
)
def test_the_role_check_finder_finds_role_checks(source):
    assert role_checks(source) == [1]


def test_the_role_check_finder_lets_roles_be_granted_and_capabilities_asked():
    source = (
        "MembershipFactory(user=user, study=study, role=Role.CLINIC_STAFF)\n"
        "ok = access.can(user, 'analyse', study=study)\n"
        "sites = access.sites_for(user, 'follow_up')\n"
    )
    assert role_checks(source) == []
