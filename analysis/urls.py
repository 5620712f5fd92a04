from django.urls import path

from analysis import download_views, views

app_name = "analysis"

urlpatterns = [
    path("", views.run_list, name="run_list"),
    path("studies/<int:study_pk>/specify/", views.specify, name="specify"),
    path("runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("runs/<int:pk>/again/", views.run_again, name="run_again"),
    path("runs/<int:pk>/tables.csv", views.tables_csv, name="tables_csv"),
    path("runs/<int:pk>/tables.xlsx", views.tables_xlsx, name="tables_xlsx"),
    path(
        "runs/<int:pk>/models/<path:name>/diagnostics.svg",
        views.diagnostics_svg,
        name="diagnostics_svg",
    ),
    path(
        "runs/<int:pk>/models/<path:name>/diagnostics.png",
        views.diagnostics_png,
        name="diagnostics_png",
    ),
    path("runs/<int:pk>/data.csv", views.data_csv, name="data_csv"),
    path("runs/<int:pk>/reproduce.R", views.reproduce_r, name="reproduce_r"),
    path("downloads/", download_views.index, name="download_index"),
    path(
        "studies/<int:study_pk>/downloads/",
        download_views.study_downloads,
        name="downloads",
    ),
    path("downloads/log/", download_views.download_log, name="download_log"),
    path("downloads/<int:pk>/", download_views.download_detail, name="download_detail"),
    path("downloads/<int:pk>/file", download_views.download_file, name="download_file"),
    path(
        "downloads/<int:pk>/codebook/",
        download_views.download_codebook,
        name="download_codebook",
    ),
]
