import factory
from django.contrib.auth import get_user_model

from participants.models import Role, Site, StaffMembership, Study, Timepoint


class StudyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Study

    slug = factory.Sequence(lambda n: f"study-{n}")
    name = factory.Sequence(lambda n: f"Cohort study {n}")
    short_name = factory.Sequence(lambda n: f"Cohort {n}")
    recruitment_target = 150


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    study = factory.SubFactory(StudyFactory)
    name = factory.Sequence(lambda n: f"Pain clinic {n}")
    code = factory.Sequence(
        lambda n: "S" + chr(ord("A") + n // 26 % 26) + chr(ord("A") + n % 26)
    )


class TimepointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Timepoint

    study = factory.SubFactory(StudyFactory)
    code = factory.Sequence(lambda n: f"tp{n}")
    label = factory.Sequence(lambda n: f"Timepoint {n}")
    order = factory.Sequence(lambda n: n + 1)
    offset_days = 0
    window_after_days = 14


STAFF_PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", STAFF_PASSWORD)

    @factory.post_generation
    def saved(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaffMembership

    user = factory.SubFactory(UserFactory)
    study = factory.SubFactory(StudyFactory)
    site = None
    role = Role.COORDINATOR


def clinic_staff(site: Site):
    return MembershipFactory(study=site.study, site=site, role=Role.CLINIC_STAFF).user


def coordinator(study: Study):
    return MembershipFactory(study=study, role=Role.COORDINATOR).user


def investigator(study: Study):
    return MembershipFactory(study=study, role=Role.INVESTIGATOR).user


def qualitative(study: Study):
    return MembershipFactory(study=study, role=Role.QUALITATIVE).user


def reference_specs():
    """The models of the reference study's preset, from its protocol file."""
    import yaml

    from analysis.presets import preset_specs
    from participants.protocol import Protocol
    from studyportal import demo

    # The structure only: checking the meaning needs the instrument library.
    protocol = Protocol.model_validate(
        yaml.safe_load(demo.REFERENCE_PROTOCOL.read_text())
    )
    return preset_specs(protocol.measures.presets[0], protocol.timepoints[0].code)
