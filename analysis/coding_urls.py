"""Coding transcripts, agreement between coders and the joint display."""

from django.urls import path

from analysis import coding_views

app_name = "coding"

urlpatterns = [
    path("", coding_views.transcript_list, name="list"),
    path("transcripts/<int:pk>/", coding_views.transcript_detail, name="transcript"),
    path(
        "segments/<int:pk>/remove/",
        coding_views.remove_segment,
        name="remove_segment",
    ),
    path("codebook/", coding_views.codebook, name="codebook"),
    path("agreement/", coding_views.agreement, name="agreement"),
    path("joint-display/", coding_views.joint_display_page, name="joint_display"),
    path("joint-display.csv", coding_views.joint_display_csv, name="joint_display_csv"),
    path(
        "joint-display.xlsx",
        coding_views.joint_display_xlsx,
        name="joint_display_xlsx",
    ),
]
