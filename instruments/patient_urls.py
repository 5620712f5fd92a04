from django.urls import path

from instruments import patient_views

app_name = "questionnaire"

urlpatterns = [
    path("stop/<str:signed>/", patient_views.opt_out, name="opt_out"),
    path("<str:token>/", patient_views.start, name="start"),
    path("<str:token>/<int:number>/", patient_views.page, name="page"),
    path("<str:token>/review/", patient_views.review, name="review"),
    path("<str:token>/done/", patient_views.done, name="done"),
]
