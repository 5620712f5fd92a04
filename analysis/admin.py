from django.contrib import admin

from analysis.models import AnalysisRun


@admin.register(AnalysisRun)
class AnalysisRunAdmin(admin.ModelAdmin):
    list_display = ("pk", "study", "preset", "status", "percent", "created_at")
    list_filter = ("status", "study", "preset")
    readonly_fields = (
        "study",
        "preset",
        "specification",
        "status",
        "step",
        "percent",
        "results",
        "error",
        "provenance",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
    )

    def has_add_permission(self, request) -> bool:
        # Runs start from the analysis pages, which queue the work.
        return False
