"""Loss to follow-up gets a reason category; the old free text becomes its detail.

The free text a coordinator typed is kept word for word as ``lost_detail``
(which investigators never see), and its category is "other", since nobody can
say after the fact which category it meant. The history rows are moved the same
way, so an old version never puts free text back into ``lost_reason``.
"""

from django.db import migrations, models
from django.db.models import F

OTHER = "other"
LOST = "lost"
LABELS = {
    "moved": "Moved away",
    "no_contact": "No contact possible",
    "too_unwell": "Too unwell",
    "died": "Died",
    "other": "Other",
}
MODELS = ("Participant", "HistoricalParticipant")


def text_to_detail(apps, schema_editor):
    for name in MODELS:
        rows = apps.get_model("participants", name).objects
        rows.exclude(lost_reason="").update(
            lost_detail=F("lost_reason"), lost_reason=OTHER
        )
        # A loss recorded without a reason still belongs to a category.
        rows.filter(status=LOST, lost_reason="").update(lost_reason=OTHER)


def detail_to_text(apps, schema_editor):
    for name in MODELS:
        rows = apps.get_model("participants", name).objects
        rows.exclude(lost_detail="").update(lost_reason=F("lost_detail"))
        for code, label in LABELS.items():
            rows.filter(lost_detail="", lost_reason=code).update(lost_reason=label)


def category() -> models.CharField:
    return models.CharField(blank=True, choices=list(LABELS.items()), max_length=20)


class Migration(migrations.Migration):
    dependencies = [
        ("participants", "0009_message_printed_status"),
    ]

    operations = [
        migrations.AddField(
            model_name="historicalparticipant",
            name="lost_detail",
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.AddField(
            model_name="participant",
            name="lost_detail",
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.RunPython(text_to_detail, detail_to_text),
        migrations.AlterField(
            model_name="historicalparticipant",
            name="lost_reason",
            field=category(),
        ),
        migrations.AlterField(
            model_name="participant",
            name="lost_reason",
            field=category(),
        ),
    ]
