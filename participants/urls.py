from django.urls import path

from participants import views

app_name = "participants"

urlpatterns = [
    path("screening/", views.screening_list, name="screening_list"),
    path("screening/new/", views.screening_new, name="screening_new"),
    path("screening/<int:pk>/consent/", views.consent_take, name="consent"),
    path("screening/<int:pk>/enrol/", views.enrol, name="enrol"),
    path("participants/", views.participant_list, name="list"),
    path("participants/<int:pk>/", views.participant_detail, name="detail"),
    path("participants/<int:pk>/handover/", views.handover, name="handover"),
    path("participants/<int:pk>/letter/", views.letter, name="letter"),
    path("participants/<int:pk>/contact/", views.contact_edit, name="contact_edit"),
    path(
        "participants/<int:pk>/characteristics/",
        views.characteristics_edit,
        name="characteristics_edit",
    ),
    path(
        "participants/<int:pk>/visits/<int:visit_pk>/paper/<slug:slug>/",
        views.paper_entry,
        name="paper_entry",
    ),
    path("participants/<int:pk>/consent/", views.reconsent, name="reconsent"),
    path(
        "participants/<int:pk>/consent/<int:consent_pk>/form/",
        views.consent_scan,
        name="consent_scan",
    ),
    path("participants/<int:pk>/withdraw/", views.withdraw, name="withdraw"),
    path("participants/<int:pk>/reactivate/", views.reactivate, name="reactivate"),
    path("participants/<int:pk>/history/", views.history, name="history"),
]
