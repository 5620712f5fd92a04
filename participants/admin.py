from django.contrib import admin

from participants.models import Site, StaffMembership, Study, Timepoint


class SiteInline(admin.TabularInline):
    model = Site
    extra = 0


class TimepointInline(admin.TabularInline):
    model = Timepoint
    extra = 0


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["name", "short_name", "slug", "recruitment_target"]
    prepopulated_fields = {"slug": ["short_name"]}
    search_fields = ["name", "short_name"]
    inlines = [SiteInline, TimepointInline]


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "study", "time_zone", "is_active"]
    list_filter = ["study", "is_active"]
    search_fields = ["name", "code"]


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


@admin.register(StaffMembership)
class StaffMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "study", "site", "created_at"]
    list_filter = ["study", "role", "site"]
    search_fields = ["user__username", "user__email"]
    autocomplete_fields = ["user"]
