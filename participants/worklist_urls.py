from django.urls import path

from participants import worklist_views as views

app_name = "worklist"

urlpatterns = [
    path("worklist/", views.worklist_page, name="list"),
    path(
        "participants/<int:pk>/visits/<int:visit_pk>/attempts/",
        views.attempt_new,
        name="attempt",
    ),
    path("participants/<int:pk>/lost/", views.mark_lost, name="lost"),
    path("duplicates/", views.duplicate_list, name="duplicates"),
    path(
        "duplicates/<int:pk>/review/", views.duplicate_review, name="duplicate_review"
    ),
    path(
        "participants/<int:pk>/visits/<int:visit_pk>/phone/",
        views.phone_interview,
        name="phone",
    ),
    path(
        "participants/<int:pk>/visits/<int:visit_pk>/phone/<slug:slug>/",
        views.phone_entry,
        name="phone_entry",
    ),
]
