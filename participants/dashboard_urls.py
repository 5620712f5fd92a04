from django.urls import path

from participants import dashboard_views

app_name = "retention"

urlpatterns = [
    path("dashboard/", dashboard_views.dashboard, name="dashboard"),
    path("dashboard/consort.svg", dashboard_views.consort_svg, name="consort_svg"),
    path("dashboard/consort.png", dashboard_views.consort_png, name="consort_png"),
    path("dashboard/tracker.csv", dashboard_views.tracker_csv, name="tracker_csv"),
]
