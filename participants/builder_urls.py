from django.urls import path

from participants import builder_views as views

app_name = "setup"

urlpatterns = [
    path("", views.index, name="index"),
    path("<slug:slug>/", views.study, name="study"),
    path("<slug:slug>/protocol.yaml", views.download, name="download"),
    path("<slug:slug>/details/", views.details, name="details"),
    path("<slug:slug>/sites/", views.sites, name="sites"),
    path("<slug:slug>/timepoints/", views.timepoints, name="timepoints"),
    path("<slug:slug>/questionnaires/", views.questionnaires, name="questionnaires"),
    path("<slug:slug>/consent/", views.consent, name="consent"),
    path(
        "<slug:slug>/consent/new-version/",
        views.new_consent_version,
        name="new_consent_version",
    ),
    path("<slug:slug>/eligibility/", views.eligibility, name="eligibility"),
    path("<slug:slug>/reminders/", views.reminders, name="reminders"),
    path("<slug:slug>/measures/", views.measures_page, name="measures"),
    path("<slug:slug>/team/", views.team, name="team"),
    path(
        "<slug:slug>/team/<int:pk>/remove/", views.remove_member, name="remove_member"
    ),
]
