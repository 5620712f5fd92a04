from django.urls import path

from analysis import views

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
]
