from django.contrib import admin
from django.utils import timezone

from participants import reminders, schedule
from participants.models import (
    ReminderPolicy,
    Site,
    StaffMembership,
    Study,
    Timepoint,
)


class SiteInline(admin.TabularInline):
    model = Site
    extra = 0


class TimepointInline(admin.TabularInline):
    model = Timepoint
    extra = 0


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "short_name",
        "slug",
        "recruitment_target",
        "study_ids_in_downloads",
    ]
    prepopulated_fields = {"slug": ["short_name"]}
    search_fields = ["name", "short_name"]
    inlines = [SiteInline, TimepointInline]


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "study", "time_zone", "is_active"]
    list_filter = ["study", "is_active"]
    search_fields = ["name", "code"]


@admin.register(ReminderPolicy)
class ReminderPolicyAdmin(admin.ModelAdmin):
    list_display = [
        "study",
        "invite_when_open",
        "first_reminder_days",
        "second_reminder_days",
        "final_reminder_days_before_close",
        "send_time",
        "quiet_from",
        "quiet_until",
    ]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        moved = reminders.replan_for_policy(obj.study)
        self.message_user(
            request, f"{moved} unsent message(s) moved to the new policy."
        )


@admin.register(Timepoint)
class TimepointAdmin(admin.ModelAdmin):
    list_display = [
        "label",
        "code",
        "study",
        "order",
        "offset_days",
        "window_before_days",
        "window_after_days",
    ]
    list_filter = ["study"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change:
            moved = schedule.recompute_future_visits(obj, today=timezone.localdate())
            self.message_user(
                request, f"{moved} future visit(s) moved to the new days."
            )


@admin.register(StaffMembership)
class StaffMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "study", "site", "created_at"]
    list_filter = ["study", "role", "site"]
    search_fields = ["user__username", "user__email"]
    autocomplete_fields = ["user"]
