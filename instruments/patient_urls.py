from django.urls import path

from instruments import patient_views

app_name = "questionnaire"

urlpatterns = [
    path("<str:token>/", patient_views.start, name="start"),
    path("<str:token>/<int:number>/", patient_views.page, name="page"),
    path("<str:token>/review/", patient_views.review, name="review"),
    path("<str:token>/done/", patient_views.done, name="done"),
]
