"""Sampling and logging the interviews."""

from django.urls import path

from analysis import interview_views as views

app_name = "interviews"

urlpatterns = [
    path("", views.interview_list, name="list"),
    path("samples/", views.samples, name="samples"),
    path("samples/<int:pk>/", views.sample_detail, name="sample"),
    path(
        "samples/<int:pk>/members/<int:member_pk>/swap/",
        views.swap_member,
        name="swap",
    ),
    path("samples/<int:pk>/add/", views.add_member, name="add"),
    path("samples/<int:pk>/accept/", views.accept_sample, name="accept"),
    path("<int:pk>/", views.interview_detail, name="detail"),
    path("<int:pk>/transcript/", views.upload_transcript, name="transcript"),
]
